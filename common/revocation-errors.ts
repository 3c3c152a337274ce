import { MeshApimError } from './errors.ts';

/** Revocation delivery (fan-out, adapter queue, bridge) failed; `retriable` says whether trying again may help. */
export class RevocationError extends MeshApimError {
  constructor(code: string, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(code, message, options);
  }
}

/** A message that will never be valid (bad JSON, unknown shape): goes to a dead letter, never retried. */
export class PoisonMessageError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('REVOCATION_POISON', message, { ...options, retriable: false });
  }
}
