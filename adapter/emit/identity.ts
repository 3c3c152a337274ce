/**
 * Per-check event identity: `<adapterInstance>~<boot>:<seq>`. The boot token is drawn once per
 * process (so a restarted instance that reuses its id and restarts its counter never repeats an
 * identity); seq is a process-wide counter, one per check. Building it is a string concatenation,
 * no hash and no clock read on the check path. The identity travels in the RequestContext
 * (`checkId`), so the access-log event rebuilt on another replica carries the check's identity too,
 * and a redelivered or replayed event keeps it: consumers deduplicate on it, never on x-request-id
 * (which clients and retries share).
 */
import { randomBytes } from 'node:crypto';

/** 48 random bits, base64url: 8 characters. */
const BOOT = randomBytes(6).toString('base64url');
let seq = 0;

/** The longest instance id kept verbatim; longer ones are cut (the boot token keeps them unique). */
const MAX_INSTANCE = 120;
const streams = new Map<string, string>();

function streamOf(instance: string): string {
  let s = streams.get(instance);
  if (s === undefined) {
    s = `${instance.length > MAX_INSTANCE ? instance.slice(0, MAX_INSTANCE) : instance}~${BOOT}`;
    if (streams.size < 64) streams.set(instance, s);
  }
  return s;
}

/** The next check identity of this process for an adapter instance (unique, monotonically increasing seq). */
export function nextCheckId(instance: string): string {
  seq += 1;
  return `${streamOf(instance)}:${seq}`;
}

/** The boot token of this process (tests, logs). */
export const bootToken = BOOT;
