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
  /** What is wrong at `location`, without it. */
  readonly problem: string;
  /**
   * Every problem found in the same pass (this one first). The compiler checks all references before
   * it gives up, so one edit can fix them all; the message names the first and how many more there are.
   */
  readonly problems: readonly SnapshotError[];

  constructor(
    location: string,
    problem: string,
    options: { cause?: unknown; retriable?: boolean; more?: readonly SnapshotError[] } = {},
  ) {
    const more = options.more ?? [];
    super(
      'SNAPSHOT_INVALID',
      `${location}: ${problem}${more.length ? ` (and ${more.length} more: ${more.map((p) => p.message).join('; ')})` : ''}`,
      options,
    );
    this.location = location;
    this.problem = problem;
    this.problems = [this, ...more];
  }
}

/** The standalone key issuer could not create or read its signing key, or issue a key. */
export class KeyIssuerError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('KEY_ISSUER', message, { ...options, retriable: false });
  }
}
