/**
 * Base error for every area. Each area (adapter, bus, functions, ...) has its own errors module
 * whose classes extend this one, so callers can branch on `retriable` without knowing the area.
 */
export class MeshApimError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG_INVALID`. */
  readonly code: string;
  /** True when the same operation may succeed if tried again (network, broker, 5xx, throttling). */
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Configuration could not be loaded or validated; the process must not start. */
export class ConfigError extends MeshApimError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, { ...options, retriable: false });
  }
}

/** True for errors that are worth retrying; unknown errors are treated as retriable (safe default for I/O). */
export function isRetriable(err: unknown): boolean {
  if (err instanceof MeshApimError) return err.retriable;
  return true;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
