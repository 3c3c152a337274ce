/** Errors of usage-billing (FunctionError: `retriable` decides retry-the-batch vs dead-letter). */
import { FunctionError } from '../lib/errors.ts';

/** The mapping (file or inline) is missing or invalid: found at start, the function does not start. */
export class BillingMappingError extends FunctionError {
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('BILLING_MAPPING_INVALID', message, { ...options, retriable: false });
  }
}

/** No subscription item for the window's (application, API, tier, key type): dead-lettered with the reason. */
export class BillingUnmappedError extends FunctionError {
  constructor(message: string, details: unknown) {
    super('BILLING_UNMAPPED', message, { retriable: false, details });
  }
}

/** The window cannot be expressed as a usage record (e.g. a partition number past the hour's slots). */
export class BillingWindowError extends FunctionError {
  constructor(message: string, details: unknown) {
    super('BILLING_WINDOW_UNBILLABLE', message, { retriable: false, details });
  }
}

/** Stripe refused the usage record for good (400/402/404...): dead-lettered with Stripe's error. */
export class BillingRejectedError extends FunctionError {
  constructor(status: number, message: string, details: unknown) {
    super('BILLING_REJECTED', `Stripe refused the usage record (${status}): ${message}`, {
      retriable: false,
      details,
    });
  }
}

/**
 * Stripe unreachable, rate limiting or failing after every attempt, or refusing our credentials
 * (401/403: a configuration error, retried rather than dead-lettering every window): the batch is
 * retried; the idempotency key makes the repeat harmless.
 */
export class BillingUnavailableError extends FunctionError {
  constructor(message: string, options: { cause?: unknown; details?: unknown } = {}) {
    super('BILLING_UNAVAILABLE', message, { ...options, retriable: true });
  }
}
