/**
 * The adapter's onCheck observer: called synchronously after each decision, it applies the emission
 * policy and hands the event over to the emitter. O(1), never awaits (the server counts anything
 * an observer throws).
 */
import type { CheckObserver } from '../domain.ts';
import type { Emitter } from './emitter.ts';
import { requestAttributesFromCheck } from './events.ts';
import type { EmissionPolicy } from './policy.ts';

export function checkEmission(emitter: Pick<Emitter, 'emit'>, policy: EmissionPolicy): CheckObserver {
  return ({ context, timings }) => {
    if (!policy.fromCheck(context.decision)) return;
    // The decision's time on the adapter's clock: no extra clock read on the check path.
    const occurredAt = new Date(timings.startedAt + Math.round(timings.totalMs));
    emitter.emit('requestAttributes', requestAttributesFromCheck(context, occurredAt));
  };
}
