/**
 * Connects the check path to the emitter: called synchronously after each decision, it applies
 * the emission policy and hands the event over. O(1), never throws, never awaits.
 */
import { createLogger } from '../../common/log.ts';
import type { RequestContext } from '../../events/request-attributes.ts';
import type { Emitter } from './emitter.ts';
import { requestAttributesFromCheck } from './events.ts';
import type { EmissionPolicy } from './policy.ts';

const log = createLogger('emit');

export function checkEmission(
  emitter: Pick<Emitter, 'emit'>,
  policy: EmissionPolicy,
  now: () => Date = () => new Date(),
): (ctx: RequestContext) => void {
  return (ctx) => {
    if (!policy.fromCheck(ctx.decision)) return;
    try {
      emitter.emit('requestAttributes', requestAttributesFromCheck(ctx, now()));
    } catch (err) {
      // emit() does not throw; this guards the check against a bug in the builder.
      log.error({ err, requestId: ctx.requestId }, 'request-attributes event could not be built');
    }
  };
}
