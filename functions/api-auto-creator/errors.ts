/** Errors of the api-auto-creator function (APIM call failures are ApimError from apim/). */
import { MeshApimError } from '../../common/errors.ts';

/** The OpenAPI definition could not be obtained or is not one. Retriable only for transport failures. */
export class OpenApiSourceError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('OPENAPI_SOURCE', message, options);
  }
}

/** The event asks for something this function cannot do (e.g. a revision limit with nothing deletable). */
export class AutoCreateError extends MeshApimError {
  readonly details: unknown;
  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; retriable?: boolean; details?: unknown } = {},
  ) {
    super(code, message, options);
    this.details = options.details;
  }
}
