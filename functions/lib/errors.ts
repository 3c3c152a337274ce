/**
 * Errors of the functions area. `retriable` decides a record's fate in a batch: a retriable failure
 * fails the invocation (Lambda / the runner redelivers the batch), a non-retriable one sends the
 * record to the dead-letter topic and the batch proceeds.
 */
import { MeshApimError } from '../../common/errors.ts';

export type FailureStage = 'decode' | 'validate' | 'process';

export class FunctionError extends MeshApimError {
  readonly stage: FailureStage;
  readonly details: unknown;
  constructor(
    code: string,
    message: string,
    options: { stage?: FailureStage; retriable?: boolean; cause?: unknown; details?: unknown } = {},
  ) {
    super(code, message, { cause: options.cause, retriable: options.retriable ?? false });
    this.stage = options.stage ?? 'process';
    this.details = options.details;
  }
}

/** The Lambda event itself is not a Kafka event: nothing can be dead-lettered, the invocation fails. */
export class InvalidLambdaEventError extends MeshApimError {
  constructor(message: string) {
    super('LAMBDA_EVENT_INVALID', message, { retriable: false });
  }
}

/** A record whose key/value/headers cannot be decoded (not base64, not UTF-8 JSON, no value). */
export class RecordDecodeError extends FunctionError {
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('RECORD_UNDECODABLE', message, { ...options, stage: 'decode', retriable: false });
  }
}

/** A record whose value does not satisfy its topic's events/ schema. */
export class RecordSchemaError extends FunctionError {
  constructor(message: string, details: unknown) {
    super('RECORD_SCHEMA_INVALID', message, { stage: 'validate', retriable: false, details });
  }
}

/** Thrown by the batch core when at least one record failed retriably: the whole batch is retried. */
export class BatchRetryError extends MeshApimError {
  readonly failures: { topic: string; partition: number; offset: string; error: string }[];
  constructor(message: string, failures: BatchRetryError['failures'], options: { cause?: unknown } = {}) {
    super('BATCH_RETRY', message, { ...options, retriable: true });
    this.failures = failures;
  }
}

/** Dead-letter publishing failed: retriable (the batch is retried rather than losing the poison records). */
export class DeadLetterPublishError extends MeshApimError {
  constructor(message: string, cause: unknown) {
    super('DEAD_LETTER_PUBLISH_FAILED', message, { cause, retriable: true });
  }
}

/**
 * A Secrets Manager secret named by configuration could not be used. Retriable when Secrets Manager
 * throttled or failed (5xx, network); not retriable when the secret is missing, forbidden or malformed.
 * Messages name the ARN and the missing key, never the secret's content.
 */
export class SecretError extends MeshApimError {
  readonly arn: string;
  constructor(arn: string, message: string, options: { retriable: boolean; cause?: unknown }) {
    super(options.retriable ? 'SECRET_UNAVAILABLE' : 'SECRET_INVALID', `secret ${arn}: ${message}`, options);
    this.arn = arn;
  }
}
