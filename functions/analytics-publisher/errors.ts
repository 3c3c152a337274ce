/** Errors of the analytics publisher and its sinks. */
import { MeshApimError } from '../../common/errors.ts';

/** A sink could not accept events now (I/O, 429, 5xx, timeout): the batch is retried. */
export class SinkUnavailableError extends MeshApimError {
  constructor(sink: string, message: string, options: { cause?: unknown } = {}) {
    super('ANALYTICS_SINK_UNAVAILABLE', `${sink}: ${message}`, { ...options, retriable: true });
  }
}

/** A sink rejected one event for good (e.g. an Elasticsearch mapping error): the record is dead-lettered. */
export class SinkRejectedError extends MeshApimError {
  readonly details: unknown;
  constructor(sink: string, message: string, details?: unknown) {
    super('ANALYTICS_SINK_REJECTED', `${sink}: ${message}`, { retriable: false });
    this.details = details;
  }
}

/** The event could not be turned into a WSO2 analytics event. */
export class AnalyticsMappingError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ANALYTICS_MAPPING_FAILED', message, { ...options, retriable: false });
  }
}
