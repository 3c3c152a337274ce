/**
 * `mesh-apim replay --from <ISO> --to <ISO> [--topic] [--sink] [--dry-run] [--batch-size]`: backfill
 * analytics for a past time range by driving the recorded request-attributes through the
 * analytics-publisher handler (functions/runner/replay.ts), without touching the live consumer
 * group's offsets. The file sink writes a per-range file (analytics/apim_metrics.replay-<from>_<to>.log,
 * rewritten by a replay of the same range); the HTTP sink overwrites by correlationId.
 */
import { availableParallelism } from 'node:os';
import cliProgress from 'cli-progress';
import { createBus } from '../../bus/index.ts';
import { type Config, loadConfig } from '../../common/config/index.ts';
import { errorMessage, MeshApimError } from '../../common/errors.ts';
import { createLogger } from '../../common/log.ts';
import { TOPICS, topicName } from '../../events/topics.ts';
import { create } from '../../functions/analytics-publisher/index.ts';
import { createSinks, FUNCTION_NAME } from '../../functions/analytics-publisher/publisher.ts';
import { FileSink, replayFileName } from '../../functions/analytics-publisher/sinks/file.ts';
import { busDeps, type FunctionDeps, MemoryDeadLetterPublisher } from '../../functions/lib/index.ts';
import { type ReplayProgress, replay } from '../../functions/runner/replay.ts';
import { analyticsReplayWorkers } from '../../functions/runner/replay-analytics.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export const description =
  'Replay a time range of request-attributes through the analytics publisher (backfill).';
export const usage = `mesh-apim replay --from <ISO time> --to <ISO time> [options]

  --from <ISO>         start of the range (inclusive), e.g. 2026-11-26T00:00:00Z
  --to <ISO>           end of the range (exclusive)
  --topic <name>       topic to replay (default: request-attributes; logical or wire name)
  --sink <kinds>       file,http,kafka (repeatable or comma-separated; default: functions.analytics.sinks)
  --dry-run            map and count only: publish nothing, dead-letter nothing
  --batch-size <n>     records per handler invocation (default: functions.batchSize)
  --rate <n>           at most n records per second (throttled backfill; default: unlimited)
  --partition <n>      only this partition (repeatable or comma-separated; default: all)
  --concurrency <n>    partitions replayed at once, each in offset order (default: 1; pays with a remote _bulk)
  --workers <n>        worker threads for decode, validation and mapping (default: the CPUs, at most 4;
                       0 = this thread); used with the file sink (or --dry-run) and --concurrency 1
  -o, --output <fmt>   text or json (default: text)
  --config <file>      configuration file`;

const SINKS = ['file', 'http', 'kafka'] as const;
type SinkKind = (typeof SINKS)[number];

export class UsageError extends MeshApimError {
  constructor(message: string) {
    super('USAGE', message, { retriable: false });
  }
}

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function parseTime(flag: string, v: string | undefined): number {
  if (!v) throw new UsageError(`--${flag} is required (ISO-8601 time, e.g. 2026-11-26T00:00:00Z)`);
  const ms = Date.parse(v);
  if (!ISO.test(v) || Number.isNaN(ms)) throw new UsageError(`--${flag} "${v}" is not an ISO-8601 time`);
  return ms;
}

export interface ReplayArgs {
  fromMs: number;
  toMs: number;
  from: string;
  to: string;
  topic: string;
  sinks: SinkKind[];
  dryRun: boolean;
  batchSize: number;
  rate: number | undefined;
  partitions: number[] | undefined;
  concurrency: number;
  workers: number;
  configFile: string | undefined;
  output: 'text' | 'json';
}

type Values = {
  from: string;
  to: string;
  topic: string;
  sink: string[];
  'dry-run': boolean;
  'batch-size': string;
  rate: string;
  partition: string[];
  concurrency: string;
  workers: string;
  config: string;
  output: string;
};

/** Validates the arguments against the config; throws UsageError with a clear message. */
export function parseReplayArgs(
  argv: string[],
  loadCfg: (file?: string) => Config = (file) => loadConfig({ file }),
  parsed?: Parsed<Values>,
): {
  args: ReplayArgs;
  config: Config;
} {
  let values: Partial<Values>;
  try {
    ({ values } = parsed ?? parseCommand<Values>('replay', argv));
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  const output = outputFormat(values.output as string | undefined, ['text', 'json'] as const);
  const fromMs = parseTime('from', values.from as string | undefined);
  const toMs = parseTime('to', values.to as string | undefined);
  if (toMs <= fromMs) throw new UsageError(`--to (${values.to}) must be after --from (${values.from})`);
  const config = loadCfg(values.config as string | undefined);
  const wanted = (values.topic as string | undefined) ?? TOPICS.requestAttributes.logical;
  const replayable = [TOPICS.requestAttributes];
  const contract = replayable.find(
    (t) => wanted === t.logical || wanted === t.name || wanted === topicName(t, config.bus.topicPrefix),
  );
  if (!contract) {
    throw new UsageError(
      `unknown topic "${wanted}": replay drives ${FUNCTION_NAME}, which consumes ${replayable.map((t) => `${t.logical} (${topicName(t, config.bus.topicPrefix)})`).join(', ')}`,
    );
  }
  const sinkArgs = ((values.sink as string[] | undefined) ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of sinkArgs) {
    if (!(SINKS as readonly string[]).includes(s))
      throw new UsageError(`unknown sink "${s}" (one of ${SINKS.join(', ')})`);
  }
  const sinks = (sinkArgs.length ? [...new Set(sinkArgs)] : config.functions.analytics.sinks) as SinkKind[];
  if (sinks.includes('http') && !config.functions.analytics.http.url) {
    throw new UsageError(
      '--sink http needs functions.analytics.http.url (MESH_APIM_FUNCTIONS_ANALYTICS_HTTP_URL)',
    );
  }
  let batchSize = config.functions.batchSize;
  if (values['batch-size'] !== undefined) {
    const raw = values['batch-size'] as string;
    batchSize = Number(raw);
    if (!/^\d+$/.test(raw) || batchSize < 1 || batchSize > 100_000) {
      throw new UsageError(`--batch-size "${raw}" must be an integer between 1 and 100000`);
    }
  }
  let rate: number | undefined;
  if (values.rate !== undefined) {
    const raw = values.rate as string;
    rate = Number(raw);
    if (!/^\d+$/.test(raw) || rate < 1)
      throw new UsageError(`--rate "${raw}" must be a positive integer (records/s)`);
  }
  let concurrency = 1;
  if (values.concurrency !== undefined) {
    const raw = values.concurrency as string;
    concurrency = Number(raw);
    if (!/^\d+$/.test(raw) || concurrency < 1)
      throw new UsageError(`--concurrency "${raw}" must be a positive integer (partitions at once)`);
  }
  let workers = Math.min(4, availableParallelism() >= 2 ? availableParallelism() : 0);
  if (values.workers !== undefined) {
    const raw = values.workers as string;
    workers = Number(raw);
    if (!/^\d+$/.test(raw) || workers > 64)
      throw new UsageError(`--workers "${raw}" must be an integer between 0 and 64 (worker threads)`);
  }
  const partitionArgs = ((values.partition as string[] | undefined) ?? []).flatMap((s) => s.split(','));
  for (const raw of partitionArgs) {
    if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--partition "${raw}" must be a partition number`);
  }
  const partitions = partitionArgs.length
    ? [...new Set(partitionArgs.map((s) => Number(s.trim())))]
    : undefined;
  return {
    config,
    args: {
      fromMs,
      toMs,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      topic: topicName(contract, config.bus.topicPrefix),
      sinks,
      dryRun: values['dry-run'] === true,
      batchSize,
      rate,
      partitions,
      concurrency,
      workers,
      configFile: values.config as string | undefined,
      output,
    },
  };
}

function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${s % 60}s`
      : `${s}s`;
}

/** A progress reporter: a bar on a terminal, a plain line every `everyMs` otherwise. */
export function progressReporter(stream: NodeJS.WriteStream | NodeJS.WritableStream, everyMs = 5000) {
  const tty = (stream as NodeJS.WriteStream).isTTY === true;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        stream: stream as NodeJS.WriteStream,
        format: 'replay |{bar}| {percentage}% | {value}/{total} records | {rate}/s | ETA {eta_formatted}',
        etaBuffer: 50,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(p: ReplayProgress) {
        if (!started) {
          bar.start(p.total, 0, { rate: 0 });
          started = true;
        }
        bar.update(p.read, { rate: Math.round(p.read / Math.max(p.elapsedMs / 1000, 0.001)) });
      },
      done() {
        if (started) bar.stop();
      },
    };
  }
  let last = 0;
  return {
    update(p: ReplayProgress) {
      const now = Date.now();
      if (now - last < everyMs && p.read < p.total) return;
      last = now;
      const rate = p.read / Math.max(p.elapsedMs / 1000, 0.001);
      const pct = p.total ? ((100 * p.read) / p.total).toFixed(1) : '100.0';
      stream.write(
        `replay: ${p.read}/${p.total} records (${pct}%), ${Math.round(rate)}/s, ETA ${fmtDuration(((p.total - p.read) / Math.max(rate, 1e-9)) * 1000)}\n`,
      );
    },
    done() {},
  };
}

export async function run(argv: string[], given?: Parsed<Values>): Promise<number> {
  let parsed: ReturnType<typeof parseReplayArgs>;
  try {
    parsed = parseReplayArgs(argv, undefined, given);
  } catch (err) {
    if (err instanceof MeshApimError && (err.code === 'USAGE' || err.code === 'CONFIG_INVALID')) {
      process.stderr.write(`mesh-apim replay: ${err.message}\n\n${usage}\n`);
      return 2;
    }
    throw err;
  }
  const { args, config } = parsed;
  const logger = createLogger('replay');
  const bus = createBus(config, logger);
  const deps: FunctionDeps = args.dryRun
    ? { ...busDeps(bus, config, logger), deadLetters: new MemoryDeadLetterPublisher() }
    : busDeps(bus, config, logger);
  const sinks = args.dryRun
    ? []
    : createSinks(config, deps, {
        only: args.sinks,
        fileName: replayFileName(args.from, args.to),
        truncateFile: true,
      });
  const instance = create(deps, { sinks });
  // Worker threads where what crosses back is rendered lines (the file sink) or nothing (a dry run):
  // the other sinks would get the mapped objects cloned back, which costs what the workers save.
  const workers =
    args.workers > 0 && args.concurrency === 1 && sinks.every((s) => s instanceof FileSink)
      ? analyticsReplayWorkers({ count: args.workers, config, sinks, deadLetters: deps.deadLetters, logger })
      : undefined;
  const progress = progressReporter(process.stderr);
  try {
    const described = await bus.describeTopics([args.topic]).catch(() => null);
    if (described && described.length === 0) {
      process.stderr.write(`mesh-apim replay: topic ${args.topic} does not exist on the ${bus.kind} bus\n`);
      return 2;
    }
    const summary = await replay({
      bus,
      topic: args.topic,
      fromMs: args.fromMs,
      toMs: args.toMs,
      handler: instance.handler,
      functionName: FUNCTION_NAME,
      batchSize: args.batchSize,
      ...(args.rate ? { rate: args.rate } : {}),
      ...(args.partitions ? { partitions: args.partitions } : {}),
      concurrency: args.concurrency,
      ...(workers ? { workers } : {}),
      onProgress: (p) => progress.update(p),
    });
    progress.done();
    const rate = summary.read / Math.max(summary.elapsedMs / 1000, 0.001);
    // A dry run maps every record but sends it nowhere: its count is what a real run would publish.
    if (args.output === 'json') {
      process.stdout.write(
        `${JSON.stringify(
          {
            from: args.from,
            to: args.to,
            topic: args.topic,
            dryRun: args.dryRun,
            sinks: args.dryRun ? [] : args.sinks,
            read: summary.read,
            published: args.dryRun ? 0 : summary.published,
            ...(args.dryRun ? { wouldPublish: summary.published } : {}),
            skipped: summary.skipped,
            deadLettered: summary.deadLettered,
            retries: summary.retries,
            partitions: summary.partitions,
            elapsedMs: summary.elapsedMs,
          },
          null,
          2,
        )}\n`,
      );
      return 0;
    }
    process.stdout.write(
      [
        `replay ${args.from} .. ${args.to} of ${args.topic}${args.dryRun ? ' (dry run: nothing published)' : ` -> ${args.sinks.join(', ')}`}`,
        `  records read:    ${summary.read}`,
        args.dryRun ? `  would publish:   ${summary.published}` : `  published:       ${summary.published}`,
        `  skipped:         ${summary.skipped}`,
        `  ${args.dryRun ? 'would dead-letter:' : 'dead-lettered:  '} ${summary.deadLettered}`,
        `  batch retries:   ${summary.retries}`,
        `  partitions:      ${summary.partitions.map((p) => `${p.partition}:[${p.start},${p.end})`).join(' ')}`,
        `  duration:        ${(summary.elapsedMs / 1000).toFixed(1)} s (${Math.round(rate)} records/s)`,
        '',
      ].join('\n'),
    );
    return 0;
  } catch (err) {
    progress.done();
    process.stderr.write(`mesh-apim replay: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await instance.close();
    await bus.close();
  }
}
