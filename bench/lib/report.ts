/** The suite's report: ratio and absolute tables in markdown, the raw runs in JSON (bench/results/suite-<time>.*). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Run } from './load.ts';
import { type Agg, agg } from './stats.ts';
import { BENCH_DIR, GHZ_VERSION } from './tools.ts';

/** What the suite ran: the report's columns and its header follow it. */
export interface Plan {
  quick: boolean;
  rounds: number;
  concurrencies: number[];
  rateFractions: number[];
}

export const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
export const fmtAgg = (a: Agg, d = 0) => `${fmt(a.median, d)} (${fmt(a.min, d)}–${fmt(a.max, d)})`;

export interface KafkaReport {
  brokers: string;
  pinning: string;
  topic: string;
  checksAnswered: number;
  eventsOnTopic: number;
  emittedBeforeStop: number;
  spooled: number;
  dropped: number;
  producerErrors: number;
}

export function kafkaCountLine(k: KafkaReport): string {
  const ok = k.checksAnswered === k.eventsOnTopic;
  return `count in = count out (ours-kafka): ${k.checksAnswered} checks answered, ${k.eventsOnTopic} events on ${k.topic} (sum of end offsets) — ${ok ? 'OK' : `MISMATCH (${k.eventsOnTopic - k.checksAnswered})`}; emitted before stop ${k.emittedBeforeStop}, spooled ${k.spooled}, dropped ${k.dropped}, producer errors ${k.producerErrors}`;
}

export function writeReport(r: {
  plan: Plan;
  results: Run[];
  mem: Record<string, { rssKb: number; hwmKb: number }>;
  big: Record<string, unknown> | null;
  notes: string[];
  slowest: number;
  kafka: KafkaReport | null;
}): void {
  const contenders = [...new Set(r.results.map((x) => x.contender))];
  const sel = (c: string, w: string, conc?: number) =>
    r.results.filter(
      (x) => x.contender === c && x.workload === w && (conc === undefined || x.concurrency === conc),
    );
  const rows: { metric: string; per: Record<string, Agg>; higherBetter: boolean }[] = [];
  for (const c of r.plan.concurrencies)
    rows.push({
      metric: `max req/s, c=${c}`,
      per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, 'valid', c).map((x) => x.rps))])),
      higherBetter: true,
    });
  rows.push({
    metric: 'max req/s, mixed 10% denials, c=32',
    per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, 'mixed').map((x) => x.rps))])),
    higherBetter: true,
  });
  for (const f of r.plan.rateFractions) {
    for (const [k, label] of [
      ['p50', 'p50'],
      ['p99', 'p99'],
      ['p999', 'p99.9'],
    ] as const)
      rows.push({
        metric: `${label} ms @ ${f * 100}% (${(r.slowest * f).toFixed(0)} req/s)`,
        per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, `rate${f * 100}`).map((x) => x[k]))])),
        higherBetter: false,
      });
  }
  rows.push({
    metric: 'server CPU µs/check, c=32',
    per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, 'valid', 32).map((x) => x.cpuUsPerCheck))])),
    higherBetter: false,
  });
  rows.push({
    metric: 'server CPU µs/check @ 50% rate',
    per: Object.fromEntries(contenders.map((n) => [n, agg(sel(n, 'rate50').map((x) => x.cpuUsPerCheck))])),
    higherBetter: false,
  });
  const ratio = (row: (typeof rows)[number], other: string) =>
    row.per['mesh-apim']!.median / (row.per[other]?.median ?? Number.NaN);
  const hasKafka = contenders.includes('ours-kafka');
  const kafkaRatio = (row: (typeof rows)[number], other: string) =>
    (row.per['ours-kafka']?.median ?? Number.NaN) / (row.per[other]?.median ?? Number.NaN);
  // Ratio columns in the issue's order: the runtime's ceiling, the widely used peer (OPA-Envoy itself
  // when OPA_ENVOY_BIN is given), then the stand-in when it ran.
  const ratioCols: { label: string; value: (row: (typeof rows)[number]) => number }[] = [
    { label: 'ours ÷ no-op', value: (row) => ratio(row, 'no-op') },
    { label: 'ours ÷ no-op-http2', value: (row) => ratio(row, 'no-op-http2') },
    { label: 'ours (http2) ÷ ours-grpc-js', value: (row) => ratio(row, 'ours-grpc-js') },
    ...[
      ['opa-envoy', 'ours ÷ OPA-Envoy'],
      ['opa-standin', 'ours ÷ OPA stand-in'],
    ]
      .filter(([name]) => contenders.includes(name!))
      .map(([name, label]) => ({ label: label!, value: (row: (typeof rows)[number]) => ratio(row, name!) })),
    ...(contenders.includes('ours-nofsync')
      ? [
          {
            label: 'ours without fsync ÷ ours',
            value: (row: (typeof rows)[number]) =>
              row.per['ours-nofsync']!.median / row.per['mesh-apim']!.median,
          },
        ]
      : []),
  ];
  const md: string[] = [
    `# Check benchmark suite — ${new Date().toISOString()}`,
    '',
    `${r.plan.quick ? 'Quick mode. ' : ''}${r.plan.rounds} round(s), contenders alternating; servers on core 0, ghz ${GHZ_VERSION} on core 1${r.kafka ? `, Kafka's JVM ${r.kafka.pinning}` : ''}. Values: median (min–max over rounds). Shared machine: read the ratios.`,
    '',
    ...(hasKafka
      ? [
          '## Full path emitting to a real Kafka (ours-kafka ÷ other; mesh-apim = ours-embedded, the embedded log)',
          '',
          '| metric | ours-kafka ÷ ours-embedded | ours-kafka ÷ no-op |',
          '| --- | --- | --- |',
          ...rows.map(
            (row) =>
              `| ${row.metric} | ${fmt(kafkaRatio(row, 'mesh-apim'))} | ${fmt(kafkaRatio(row, 'no-op'))} |`,
          ),
          '',
          r.kafka ? kafkaCountLine(r.kafka) : 'count in = count out: not measured (the run did not finish).',
          '',
        ]
      : []),
    '## Ratios (mesh-apim ÷ other; throughput: higher is better, latency/CPU: lower is better)',
    '',
    `| metric | ${ratioCols.map((c) => c.label).join(' | ')} |`,
    `| --- | ${ratioCols.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.metric} | ${ratioCols.map((c) => fmt(c.value(row))).join(' | ')} |`),
    '',
    ...(contenders.includes('opa-envoy')
      ? []
      : [
          'No OPA-Envoy column: set OPA_ENVOY_BIN to an opa-envoy-plugin binary you have; without it the OPA stand-in (bench/opa-authz) is the OPA contender.',
          '',
        ]),
    '## Absolute',
    '',
    `| metric | ${contenders.join(' | ')} |`,
    `| --- | ${contenders.map(() => '---').join(' | ')} |`,
    ...rows.map(
      (row) =>
        `| ${row.metric} | ${contenders.map((n) => fmtAgg(row.per[n]!, row.metric.includes('ms') ? 3 : row.metric.includes('CPU') ? 1 : 0)).join(' | ')} |`,
    ),
    `| RSS MiB at end (peak) | ${contenders.map((n) => `${fmt(r.mem[n]!.rssKb / 1024, 1)} (${fmt(r.mem[n]!.hwmKb / 1024, 1)})`).join(' | ')} |`,
    '',
  ];
  if (r.big) {
    const b = r.big as {
      entries: number;
      small: { startMs: number; rssMb: number };
      big: { startMs: number; rssMb: number };
      ratio: { start: number; rss: number };
      extraRssBytesPerEntry: number;
    };
    md.push(
      `## Snapshot with ${b.entries} applications + ${b.entries} subscriptions + ${b.entries} key mappings`,
      '',
      '| | start to ready (ms) | RSS after start (MiB) |',
      '| --- | --- | --- |',
      `| bench policies | ${fmt(b.small.startMs, 0)} | ${fmt(b.small.rssMb, 1)} |`,
      `| ${b.entries} each | ${fmt(b.big.startMs, 0)} | ${fmt(b.big.rssMb, 1)} |`,
      `| ratio | ${fmt(b.ratio.start)} | ${fmt(b.ratio.rss)} |`,
      '',
      `Extra RSS per (application + subscription + key mapping): ${fmt(b.extraRssBytesPerEntry, 0)} bytes.`,
      '',
    );
  }
  md.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  const dir = join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(dir, `suite-${stamp}.md`), md.join('\n'));
  writeFileSync(
    join(dir, `suite-${stamp}.json`),
    `${JSON.stringify({ quick: r.plan.quick, rounds: r.plan.rounds, ghz: GHZ_VERSION, slowestMaxRps: r.slowest, rows, runs: r.results, memory: r.mem, bigSnapshot: r.big, kafka: r.kafka, notes: r.notes }, null, 2)}\n`,
  );
  process.stdout.write(`${md.join('\n')}\nwritten: bench/results/suite-${stamp}.{md,json}\n`);
}
