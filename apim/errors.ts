/** Errors of the WSO2 API Manager clients (Publisher REST API v4, DCR, token endpoint; internal data API). */
import { MeshApimError } from '../common/errors.ts';

/**
 * A call to API Manager failed. `status` is the HTTP status (0 = no response: network/timeout);
 * `body` is APIM's error body as received, so a dead letter carries the reason APIM gave.
 */
export class ApimError extends MeshApimError {
  readonly status: number;
  readonly body: unknown;
  readonly operation: string;
  /** What a dead letter carries (functions/lib copies `details`): APIM's own error body. */
  readonly details: { operation: string; status: number; body: unknown };

  constructor(
    operation: string,
    status: number,
    body: unknown,
    options: { cause?: unknown; retriable?: boolean } = {},
  ) {
    const detail =
      body && typeof body === 'object' && 'message' in body
        ? String((body as { message: unknown }).message)
        : status === 0
          ? 'no response'
          : `HTTP ${status}`;
    super(status === 0 ? 'APIM_UNREACHABLE' : `APIM_HTTP_${status}`, `${operation}: ${detail}`, {
      ...options,
      retriable: options.retriable ?? isRetriableStatus(status),
    });
    this.status = status;
    this.body = body;
    this.operation = operation;
    this.details = { operation, status, body };
  }
}

/** 5xx, 429 and no response at all may succeed later; other 4xx will not. */
export function isRetriableStatus(status: number): boolean {
  return status === 0 || status === 429 || status === 408 || status >= 500;
}

/** Internal data API: API Manager could not be reached or answered with an error status: try again at the next poll. */
export class ApimUnavailableError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('APIM_UNAVAILABLE', message, { ...options, retriable: true });
  }
}

/** Internal data API: API Manager answered, but not with the spec's shape (malformed JSON, missing members). */
export class ApimResponseError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('APIM_BAD_RESPONSE', message, { ...options, retriable: true });
  }
}
