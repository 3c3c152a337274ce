import { createBus } from '../../bus/index.ts';
import { topicSpecs } from '../../bus/topics.ts';
import type { TopicDescription, TopicSpec } from '../../bus/types.ts';
import { loadConfig } from '../../common/config/index.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export const description =
  'Create/verify the topics of infra/topics.yaml on the configured bus, or list them.';
export const usage = `mesh-apim topics apply [--dry-run] [--config <file>]
mesh-apim topics list [--config <file>]

apply   creates missing topics (partitions, retention, cleanup policy from infra/topics.yaml) and
        verifies existing ones; exit 3 when an existing topic differs (partitions are never changed).
list    prints every topic on the bus with its settings and records per partition.`;

function fmtMs(ms: number): string {
  if (ms < 0) return 'forever';
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return `${ms}ms`;
}

function differences(want: TopicSpec, have: TopicDescription): string[] {
  const diffs: string[] = [];
  if (have.partitions !== want.partitions)
    diffs.push(`partitions ${have.partitions} (want ${want.partitions})`);
  if (have.retentionMs !== want.retentionMs)
    diffs.push(`retention ${fmtMs(have.retentionMs)} (want ${fmtMs(want.retentionMs)})`);
  if ((have.retentionBytes ?? -1) !== (want.retentionBytes ?? -1))
    diffs.push(`retention.bytes ${have.retentionBytes} (want ${want.retentionBytes})`);
  if (have.cleanupPolicy !== want.cleanupPolicy)
    diffs.push(`cleanup ${have.cleanupPolicy} (want ${want.cleanupPolicy})`);
  return diffs;
}

type Values = { config: string; 'dry-run': boolean; output: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values, positionals } = parsed ?? parseCommand<Values>('topics', argv);
  const json = outputFormat(values.output, ['text', 'json']) === 'json';
  const sub = positionals[0];
  if (sub !== 'apply' && sub !== 'list') {
    process.stderr.write(`mesh-apim topics: expected "apply" or "list"\n\n${usage}\n`);
    return 2;
  }
  const config = loadConfig({ file: values.config });
  const bus = createBus(config);
  const out = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  const emit = (doc: unknown) => {
    if (json) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  };
  try {
    if (sub === 'list') {
      const topics = await bus.describeTopics();
      emit({
        bus: bus.kind,
        topics: topics.map((t) => ({
          name: t.name,
          partitions: t.partitions,
          retentionMs: t.retentionMs,
          retentionBytes: t.retentionBytes ?? -1,
          cleanupPolicy: t.cleanupPolicy,
          records: t.offsets.map((o) => Number(o.end) - Number(o.start)),
        })),
      });
      for (const t of topics) {
        const records = t.offsets.map((o) => Number(o.end) - Number(o.start));
        out(
          `${t.name}  partitions=${t.partitions} retention=${fmtMs(t.retentionMs)} retention.bytes=${t.retentionBytes ?? -1} cleanup=${t.cleanupPolicy} records=[${records.join(',')}]`,
        );
      }
      return 0;
    }
    const specs = topicSpecs(config.bus.topicPrefix);
    const existing = new Map((await bus.describeTopics(specs.map((s) => s.name))).map((d) => [d.name, d]));
    const missing = specs.filter((s) => !existing.has(s.name));
    let drift = false;
    const plan: { name: string; action: 'create' | 'ok' | 'differs'; differences: string[] }[] = [];
    for (const s of specs) {
      const have = existing.get(s.name);
      plan.push({
        name: s.name,
        action: have ? (differences(s, have).length ? 'differs' : 'ok') : 'create',
        differences: have ? differences(s, have) : [],
      });
      if (!have) {
        out(
          `${values['dry-run'] ? 'would create' : 'create'}  ${s.name} (partitions=${s.partitions} retention=${fmtMs(s.retentionMs)} cleanup=${s.cleanupPolicy})`,
        );
        continue;
      }
      const diffs = differences(s, have);
      if (diffs.length > 0) drift = true;
      out(`${diffs.length ? 'DIFFERS' : 'ok'}  ${s.name}${diffs.length ? `: ${diffs.join(', ')}` : ''}`);
    }
    if (!values['dry-run'] && missing.length > 0) await bus.ensureTopics(missing);
    emit({
      bus: bus.kind,
      dryRun: values['dry-run'] === true,
      topics: plan,
      created: values['dry-run'] ? 0 : missing.length,
    });
    out(
      `${bus.kind} bus: ${specs.length} topics, ${missing.length} ${values['dry-run'] ? 'to create' : 'created'}${drift ? ', some differ (not changed)' : ''}`,
    );
    // 3: the command ran and the answer is "no, the bus does not match" (docs/cli.md).
    return drift ? 3 : 0;
  } finally {
    await bus.close();
  }
}
