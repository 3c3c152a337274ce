import { MeshApimError } from '../common/errors.ts';

/** The adapter itself failed (not a denial): answered with the configured failure mode. */
export class AdapterError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('ADAPTER_ERROR', message, options);
  }
}

/** A control-plane snapshot could not be loaded: the last good snapshot stays in force. */
export class SnapshotError extends MeshApimError {
  /** Where: file (or source) and path inside it, e.g. config/standalone.yaml: apis[0].resources[1].method */
  readonly location: string;

  constructor(location: string, problem: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super('SNAPSHOT_INVALID', `${location}: ${problem}`, options);
    this.location = location;
  }
}

/** The standalone key issuer could not create or read its signing key, or issue a key. */
export class KeyIssuerError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('KEY_ISSUER', message, { ...options, retriable: false });
  }
}
