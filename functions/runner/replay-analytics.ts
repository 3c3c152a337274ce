/**
 * The analytics publisher's replay on worker threads (replay-pool.ts). On a worker: the publisher's
 * whole batch core (contract validation, WSO2 mapping, poison records to dead letters) over sinks
 * that forward their writes to the main thread; on the main thread: the real sinks and the real
 * dead-letter publisher, called in batch order. A sink's answer (per item, or its rejection) goes
 * back to the worker's core, so retries and poison handling are the in-process replay's.
 */
import type { Config } from '../../common/config/index.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import type { DeadLetter } from '../../events/dead-letter.ts';
import { create } from '../analytics-publisher/index.ts';
import { elkLineWith } from '../analytics-publisher/sinks/elk-line.ts';
import { FileSink } from '../analytics-publisher/sinks/file.ts';
import {
  type AnalyticsSink,
  dedupKey,
  type SinkItem,
  type SinkItemResult,
} from '../analytics-publisher/sinks/types.ts';
import type { DeadLetterPublisher } from '../lib/dead-letter.ts';
import type { KafkaHandler } from '../lib/handler.ts';
import type { ReplayWorkers } from './replay-pool.ts';
import { type CallMain, fromWire, toWire, type WireError } from './replay-wire.ts';

interface Init {
  config: Config;
  /** Per sink: its name and whether it takes rendered lines (the file sink: writeRendered). */
  sinks: { name: string; rendered: boolean }[];
  logLevel: string;
}

/** A file sink's batch as its lines' bodies: cloning strings costs a fraction of cloning the items. */
interface Rendered {
  ids: string[];
  bodies: string[];
}

/** Every item ok is the count (no array of results to clone); otherwise one entry per item. */
type WireResults = number | ({ ok: true } | { ok: false; error: WireError })[];

const OK: SinkItemResult = Object.freeze({ ok: true });

/** The worker's handler (replay-worker.ts loads this module as its entry). */
export function replayWorkerHandler(init: unknown, call: CallMain): KafkaHandler {
  const { config, sinks, logLevel } = init as Init;
  const logger = createLogger('replay');
  logger.level = logLevel;
  const forwarding = sinks.map(
    ({ name, rendered }, i): AnalyticsSink => ({
      name,
      async write(items: readonly SinkItem[]): Promise<SinkItemResult[]> {
        if (rendered) {
          const r: Rendered = {
            ids: items.map(dedupKey),
            bodies: items.map((item) => elkLineWith('', item)),
          };
          await call(`sink:${i}`, r);
          return items.map(() => OK);
        }
        const r = (await call(`sink:${i}`, items)) as WireResults;
        if (typeof r === 'number') return items.map(() => OK);
        return r.map((x) => (x.ok ? OK : { ok: false, error: fromWire(x.error) }));
      },
      close: async () => {},
    }),
  );
  const deadLetters: DeadLetterPublisher = {
    publish: async (letters) => {
      await call('deadLetters', letters);
    },
  };
  const noProducer = {
    produce: () => Promise.reject(new Error('replay worker: the Kafka sink produces on the main thread')),
  };
  return create(
    { config, deadLetters, producer: noProducer, logger, now: () => new Date() },
    { sinks: forwarding },
  ).handler;
}

/** The main thread's side: `sinks` and `deadLetters` are the ones the in-process handler uses too. */
export function analyticsReplayWorkers(o: {
  count: number;
  config: Config;
  sinks: readonly AnalyticsSink[];
  deadLetters: DeadLetterPublisher;
  logger?: Logger;
}): ReplayWorkers {
  const services: ReplayWorkers['services'] = {
    deadLetters: (letters) => o.deadLetters.publish(letters as DeadLetter[]),
  };
  o.sinks.forEach((sink, i) => {
    if (sink instanceof FileSink) {
      services[`sink:${i}`] = async (r) => {
        await sink.writeRendered((r as Rendered).ids, (r as Rendered).bodies);
        return null;
      };
      return;
    }
    services[`sink:${i}`] = async (items): Promise<WireResults> => {
      const list = items as SinkItem[];
      const results = await sink.write(list);
      if (results.length === list.length && results.every((r) => r.ok)) return list.length;
      return results.map((r) => (r.ok ? { ok: true } : { ok: false, error: toWire(r.error) }));
    };
  });
  return {
    count: o.count,
    entry: import.meta.url,
    init: {
      config: o.config,
      sinks: o.sinks.map((s) => ({ name: s.name, rendered: s instanceof FileSink })),
      logLevel: o.logger?.level ?? 'warn',
    } satisfies Init,
    services,
  };
}
