/**
 * Bus errors. Callers (the emitter, the function runners) branch on `retriable`: a retriable failure
 * means "nothing was lost, try again later" (spool, back off); a non-retriable one is a bug or a
 * configuration problem that retrying will not fix.
 */
import { MeshApimError } from '../common/errors.ts';

export class BusError extends MeshApimError {
  constructor(code: string, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(code, message, options);
  }
}

/** The broker (or the embedded log's database) cannot be reached or is locked: retry later. */
export class BrokerUnavailableError extends BusError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BUS_UNAVAILABLE', message, { ...options, retriable: true });
  }
}

/** produce() did not get an acknowledgement: none of the batch is reported as sent. */
export class ProduceError extends BusError {
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('BUS_PRODUCE_FAILED', message, options);
  }
}

/** A topic or partition that does not exist, or a topic definition the bus cannot apply. */
export class TopicError extends BusError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BUS_TOPIC', message, { ...options, retriable: false });
  }
}

/** The bus was used after close(). */
export class BusClosedError extends BusError {
  constructor(what: string) {
    super('BUS_CLOSED', `${what}: the bus is closed`, { retriable: false });
  }
}

/**
 * No MSK IAM auth token could be made (no AWS credentials reachable, STS/IMDS down, no region):
 * retriable, credentials usually come back (a rotated role, IMDS after a blip).
 */
export class MskIamAuthError extends BusError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BUS_KAFKA_AUTH', message, { ...options, retriable: true });
  }
}
