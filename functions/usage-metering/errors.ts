/** Errors of usage-metering (FunctionError: `retriable` decides retry-the-batch vs dead-letter). */
import { FunctionError } from '../lib/errors.ts';

/** The event's hour was forgotten (older than usageRetainClosedMs): it can no longer be deduplicated. */
export class UsageBeyondRetentionError extends FunctionError {
  constructor(hourStart: string, retainedFrom: string) {
    super(
      'USAGE_BEYOND_RETENTION',
      `request of hour ${hourStart} is older than the retained usage windows (from ${retainedFrom}); count it by hand or raise functions.usageRetainClosedMs`,
      { retriable: false, details: { hourStart, retainedFrom } },
    );
  }
}

/** Publishing usage windows failed: the batch is retried (its events are then duplicates; the windows stay pending). */
export class UsagePublishError extends FunctionError {
  constructor(cause: unknown) {
    super('USAGE_PUBLISH_FAILED', 'publishing usage windows failed', { retriable: true, cause });
  }
}

/** The meter state could not be saved: the batch is retried rather than committed unsaved. */
export class UsageStateError extends FunctionError {
  constructor(file: string, cause: unknown) {
    super('USAGE_STATE_UNSAVED', `saving the usage meter state to ${file} failed`, {
      retriable: true,
      cause,
    });
  }
}

/** Another live runner holds the state file: two writers would overwrite each other's counts. */
export class UsageStateLockedError extends FunctionError {
  constructor(file: string, owner: { host?: string; pid?: number }) {
    super(
      'USAGE_STATE_LOCKED',
      `${file} is locked by another runner (host ${owner.host ?? '?'}, pid ${owner.pid ?? '?'}); give each runner on one data dir its own functions.usageRunnerId, or stop the other`,
      { retriable: false, details: owner },
    );
  }
}

/**
 * The stored state cannot be read back consistently (a changelog line damaged before its last one, a
 * head listing a segment no record holds): the batch is retried rather than counted onto a wrong state.
 */
export class UsageStateCorruptError extends FunctionError {
  constructor(where: string, reason: string) {
    super('USAGE_STATE_CORRUPT', `the usage meter state in ${where} is unreadable: ${reason}`, {
      retriable: true,
      details: { where, reason },
    });
  }
}
