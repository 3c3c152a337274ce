/**
 * The adapter's onCheck observer: called synchronously after each decision, it applies the emission
 * policy and hands the event over to the emitter. O(1), never awaits (the server counts anything
 * an observer throws).
 */
import type { CheckObserver } from '../check-record.ts';
import type { Emitter } from './emitter.ts';
import { requestAttributesJsonFromCheck } from './events.ts';
import type { EmissionPolicy } from './policy.ts';

export function checkEmission(
  emitter: Pick<Emitter, 'emitSerialized'>,
  policy: EmissionPolicy,
): CheckObserver {
  return ({ context, timings }) => {
    if (!policy.fromCheck(context.decision)) return;
    // The decision's time on the adapter's clock: no extra clock read on the check path.
    const occurredAt = new Date(timings.startedAt + Math.round(timings.totalMs));
    // Serialised from the context's JSON the response already built (no second JSON.stringify);
    // the topic's key is the request id (events/topics.ts).
    emitter.emitSerialized(
      'requestAttributes',
      context.requestId,
      requestAttributesJsonFromCheck(context, occurredAt),
    );
  };
}
