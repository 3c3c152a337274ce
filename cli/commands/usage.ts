/**
 * `mesh-apim usage --from <ISO> --to <ISO> [--application <id|name>] [-o csv|json]`: per hour,
 * application, API, tier and key type, the allowed / throttled / denied requests and response bytes
 * from the usage topic (usage-metering's closed windows, latest revision, summed over partitions).
 */
import { createBus } from '../../bus/index.ts';
import type { Bus } from '../../bus/types.ts';
import { loadConfig } from '../../common/config/index.ts';
import { errorMessage, MeshApimError } from '../../common/errors.ts';
import { TOPICS, topicName } from '../../events/topics.ts';
import { Usage } from '../../events/usage.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';
import { toCsv, usageReport } from '../usage-report.ts';

export const usage = `mesh-apim usage --from <ISO time> --to <ISO time> [--application <id|name>] [-o csv|json]`;

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function usageError(message: string): MeshApimError {
  return new MeshApimError('USAGE', message, { retriable: false });
}

function parseTime(flag: string, v: string | undefined): number {
  if (!v) throw usageError(`--${flag} is required (ISO-8601 time, e.g. 2026-11-26T00:00:00Z)`);
  const ms = Date.parse(v);
  if (!ISO.test(v) || Number.isNaN(ms)) throw usageError(`--${flag} "${v}" is not an ISO-8601 time`);
  return ms;
}

/** Every usage event on the topic; a record that is not a valid usage event is reported, not counted. */
export async function readUsage(
  bus: Pick<Bus, 'offsetsForTime' | 'endOffsets' | 'read'>,
  topic: string,
  onInvalid: (where: string) => void = () => {},
): Promise<Usage[]> {
  const out: Usage[] = [];
  const [starts, ends] = await Promise.all([bus.offsetsForTime(topic, 0), bus.endOffsets(topic)]);
  for (const s of starts) {
    const end = BigInt(ends.find((e) => e.partition === s.partition)?.offset ?? s.offset);
    let next = BigInt(s.offset);
    while (next < end) {
      const records = await bus.read(topic, s.partition, next.toString(), 10_000);
      if (records.length === 0) break;
      for (const r of records) {
        const parsed = r.value ? Usage.safeParse(safeJson(r.value.toString())) : null;
        if (parsed?.success) out.push(parsed.data);
        else onInvalid(`${topic}-${r.partition}@${r.offset}`);
      }
      next = BigInt(records[records.length - 1]!.offset) + 1n;
    }
  }
  return out;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

type Values = { from: string; to: string; application: string; config: string; output: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values } = parsed ?? parseCommand<Values>('usage', argv);
  const format = outputFormat(values.output, ['csv', 'json'] as const);
  const fromMs = parseTime('from', values.from);
  const toMs = parseTime('to', values.to);
  if (toMs <= fromMs) throw usageError(`--to (${values.to}) must be after --from (${values.from})`);
  const config = loadConfig({ file: values.config });
  const bus = createBus(config);
  try {
    const topic = topicName(TOPICS.usage, config.bus.topicPrefix);
    const events = await readUsage(bus, topic, (where) =>
      process.stderr.write(`mesh-apim usage: ${where} is not a usage event; not counted\n`),
    );
    const rows = usageReport(events, {
      fromMs,
      toMs,
      ...(values.application !== undefined ? { application: values.application } : {}),
    });
    process.stdout.write(format === 'csv' ? toCsv(rows) : `${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`mesh-apim usage: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    await bus.close();
  }
}
