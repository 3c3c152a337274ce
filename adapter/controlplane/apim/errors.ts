/** Errors of the API Manager control-plane client. */
import { MeshApimError } from '../../../common/errors.ts';

/** API Manager could not be reached or answered with an error status: try again at the next poll. */
export class ApimUnavailableError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('APIM_UNAVAILABLE', message, { ...options, retriable: true });
  }
}

/** API Manager answered, but not with the spec's shape (malformed JSON, missing members). */
export class ApimResponseError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('APIM_BAD_RESPONSE', message, { ...options, retriable: true });
  }
}
