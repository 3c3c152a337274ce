/**
 * The side-by-side benchmark suite (`npm run bench [-- --quick] [--rounds N] [--cpu-prof] [--no-big] [--no-opa] [--no-standin] [--fsync-ab] [--kafka [--kafka-cpus 1|all]]`):
 * ghz drives envoy.service.auth.v3.Authorization/Check against (1) a no-op grpc-js Check server,
 * (2) mesh-apim's full path (API key, subscription, four throttle levels that never trip, event
 * emission), (3) OPA-Envoy itself when OPA_ENVOY_BIN names an opa-envoy-plugin binary the operator
 * has (the repo never builds or fetches it; policy bench/opa-envoy.rego, GOMAXPROCS=1) and (4) the OPA
 * stand-in (bench/opa-authz: OPA's Rego engine behind a Go ext_authz server, GOMAXPROCS=1; skipped
 * with --no-standin; --no-opa drops both OPA contenders). Servers are pinned to core 0, ghz to core 1
 * (taskset). Contenders alternate inside
 * every step and rounds repeat; medians and min–max spread are reported, ratios first. Results:
 * bench/results/suite-<time>.{json,md}. Tools are cached outside the repo (~/.cache/mesh-apim/bin):
 * ghz via `go install`, the OPA stand-in via `go build` of bench/opa-authz.
 * --kafka (or KAFKA_BROKERS set): one more contender, ours-kafka — the same full path emitting to a real
 * single-node Kafka that the suite starts itself (infra/kafka/kafka.sh, free port, run dir in a temp dir,
 * stopped at the end whatever happens; a broker named by KAFKA_BROKERS is not used, its other load would
 * be measured too). The broker's JVM runs on core 1 with ghz (--kafka-cpus all: unpinned).
 * This file is the run's order; its parts are in bench/lib/ (tools, servers, kafka, load, stats, report,
 * args: the one argument parser of every bench entry).
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaBus } from '../bus/kafka/index.ts';
import { TOPICS } from '../events/topics.ts';
import { writeBigPolicies } from './fixtures.ts';
import { benchArgs } from './lib/args.ts';
import { type Kafka, startKafka, stopKafka, stopKafkaSync } from './lib/kafka.ts';
import { ghzRun, type Run } from './lib/load.ts';
import { log } from './lib/log.ts';
import { fmt, type KafkaReport, kafkaCountLine, type Plan, writeReport } from './lib/report.ts';
import {
  OPA_ENVOY_RULE,
  type Server,
  sanityCheck,
  startNode,
  startOpa,
  startOpaEnvoy,
  stop,
} from './lib/servers.ts';
import { median, metricSum } from './lib/stats.ts';
import { BENCH_DIR, binVersion, ensureGhz, ensureOpa, opaEnvoyBin } from './lib/tools.ts';
import { memKb } from './proc.ts';
import { encodeCheckRequest, istioIngressCheckRequest, toGhzJson } from './realistic-request.ts';

export const SUITE_ARGS = {
  usage: 'npm run bench [-- suite] [options]',
  mode: 'suite',
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'no-big': { type: 'boolean', default: false },
    'no-opa': { type: 'boolean', default: false },
    'no-standin': { type: 'boolean', default: false },
    'fsync-ab': { type: 'boolean', default: false },
    'big-size': { type: 'string', default: '100000' },
    kafka: { type: 'boolean', default: false },
    'kafka-cpus': { type: 'string', default: '1' },
  },
  describe: {
    quick: 'one round, short steps',
    rounds: 'rounds of alternating contenders (default 3, 1 with --quick)',
    'cpu-prof': 'V8 CPU profile of the adapter into bench/results/prof',
    'no-big': 'skip the big-snapshot start/RSS step',
    'no-opa': 'no OPA contender (neither OPA-Envoy nor the stand-in)',
    'no-standin': 'no OPA stand-in (bench/opa-authz)',
    'fsync-ab': 'also the embedded log without fsync per commit',
    'big-size': 'applications, subscriptions and key mappings of the big snapshot',
    kafka: 'also ours-kafka on a real Kafka the suite starts (also when KAFKA_BROKERS is set)',
    'kafka-cpus': "taskset CPU list of the broker's JVM ('all': unpinned)",
  },
} as const;

const CONCURRENCIES = [1, 8, 32, 128];
const RATE_FRACTIONS = [0.25, 0.5, 0.75];

async function bigSnapshot(n: number, quick: boolean): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-big-'));
  const file = join(dir, 'big.yaml');
  writeBigPolicies(file, n);
  const runs: Record<string, { startMs: number; rssKb: number }[]> = { small: [], big: [] };
  try {
    for (let r = 0; r < (quick ? 1 : 2); r++) {
      for (const which of ['small', 'big'] as const) {
        const s = await startNode(which, ['adapter', ...(which === 'big' ? ['--policies', file] : [])]);
        global.gc?.();
        await new Promise((res) => setTimeout(res, 500));
        runs[which]!.push({ startMs: s.info.startMs as number, rssKb: memKb(s.pid).rssKb });
        await stop(s);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m = (w: string, k: 'startMs' | 'rssKb') => median(runs[w]!.map((x) => x[k]));
  return {
    entries: n,
    small: { startMs: m('small', 'startMs'), rssMb: m('small', 'rssKb') / 1024 },
    big: { startMs: m('big', 'startMs'), rssMb: m('big', 'rssKb') / 1024 },
    ratio: {
      start: m('big', 'startMs') / m('small', 'startMs'),
      rss: m('big', 'rssKb') / m('small', 'rssKb'),
    },
    extraRssBytesPerEntry: ((m('big', 'rssKb') - m('small', 'rssKb')) * 1024) / n,
  };
}

export async function runSuite(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = benchArgs(SUITE_ARGS, argv);
  const KAFKA = values.kafka || Boolean(process.env.KAFKA_BROKERS);
  const QUICK = values.quick;
  const ROUNDS = Number(values.rounds ?? (QUICK ? 1 : 3));
  const MAX_SECONDS = QUICK ? 2 : 5;
  const RATE_SECONDS = QUICK ? 3 : 6;
  const plan: Plan = {
    quick: QUICK,
    rounds: ROUNDS,
    concurrencies: CONCURRENCIES,
    rateFractions: RATE_FRACTIONS,
  };
  const ghz = ensureGhz();
  const opaEnvoy = values['no-opa'] ? null : opaEnvoyBin();
  const opaBin = values['no-opa'] || values['no-standin'] ? null : ensureOpa();
  const work = mkdtempSync(join(tmpdir(), 'mesh-apim-suite-'));
  // A broker of ours is detached (setsid): stop it on exit and on a signal, and the temp dir (its data among it) goes too.
  const onSignal = () => {
    stopKafkaSync();
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('exit', stopKafkaSync);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const servers: Server[] = [];
  const results: Run[] = [];
  const notes: string[] = [];
  let kafka: Kafka | null = null;
  let kafkaAdmin: KafkaBus | null = null;
  let kafkaReport: KafkaReport | null = null;
  try {
    const profDir = join(BENCH_DIR, 'results', 'prof');
    if (values['cpu-prof']) mkdirSync(profDir, { recursive: true });
    // One signing key for every full-path contender, so one API key is valid on each.
    const keyFile = join(work, 'signing-key.pem');
    writeFileSync(
      keyFile,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    servers.push(await startNode('no-op', ['noop']));
    // mesh-apim = the full path on the default transport (http2); ours-grpc-js = the same on grpc-js.
    servers.push(
      await startNode(
        'mesh-apim',
        ['adapter', '--emit', '--transport', 'http2', '--key-file', keyFile],
        values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
      ),
    );
    servers.push(await startNode('no-op-http2', ['noop-http2']));
    servers.push(
      await startNode('ours-grpc-js', ['adapter', '--emit', '--transport', 'grpc-js', '--key-file', keyFile]),
    );
    if (values['fsync-ab']) {
      // The embedded log without fsync per commit, side by side with the default (see PROFILE.md).
      servers.push(
        await startNode('ours-nofsync', ['adapter', '--emit', '--no-fsync', '--key-file', keyFile]),
      );
    }
    if (KAFKA) {
      kafka = await startKafka(join(work, 'kafka'), values['kafka-cpus']);
      const { rootLogger } = await import('../common/log.ts');
      rootLogger.level = 'warn';
      const { loadConfig } = await import('../common/config/index.ts');
      const { KafkaBus } = await import('../bus/kafka/index.ts');
      const { topicSpecs } = await import('../bus/topics.ts');
      kafkaAdmin = new KafkaBus(loadConfig({ env: { KAFKA_BROKERS: kafka.brokers } }).bus.kafka);
      // As `mesh-apim topics apply` would: every topic from infra/topics.yaml (the producer does not auto-create).
      await kafkaAdmin.ensureTopics(topicSpecs());
      servers.push(
        await startNode('ours-kafka', ['adapter', '--kafka', '--key-file', keyFile], [], {
          ...process.env,
          KAFKA_BROKERS: kafka.brokers,
        }),
      );
      notes.push(`Kafka broker for ours-kafka: ${kafka.brokers}, JVM ${kafka.pinning}.`);
    }
    if (opaEnvoy) {
      servers.push(await startOpaEnvoy(opaEnvoy));
      notes.push(
        `OPA-Envoy: ${opaEnvoy} (${binVersion(opaEnvoy)}), policy bench/opa-envoy.rego, path ${OPA_ENVOY_RULE}, GOMAXPROCS=1.`,
      );
    } else
      notes.push(
        values['no-opa']
          ? 'No OPA contender (--no-opa).'
          : 'OPA-Envoy not measured: set OPA_ENVOY_BIN to an opa-envoy-plugin binary you have.',
      );
    if (opaBin) servers.push(await startOpa(opaBin));
    else if (!values['no-opa'])
      notes.push(
        values['no-standin']
          ? 'OPA stand-in skipped (--no-standin).'
          : 'OPA stand-in not available (build failed).',
      );
    const ours = servers[1]!;
    for (const s of servers.filter((x) => x.info.emission))
      notes.push(`${s.name} event emission: ${String(s.info.emission)}`);
    const apiKey = ours.info.apiKey as string;
    const otherKey = ours.info.otherKey as string;
    // The realistic request (an Istio ingress gateway's CheckRequest, bench/realistic-request.ts); the
    // OPA contenders' rule reads x-api-key, one more header.
    const valid = istioIngressCheckRequest({
      apiKey,
      requestId: 'bench-1',
      extraHeaders: { 'x-api-key': 'bench-valid-key' },
    });
    const denied = istioIngressCheckRequest({
      apiKey: otherKey,
      requestId: 'bench-2',
      extraHeaders: { 'x-api-key': 'someone-else' },
    });
    notes.push(
      `Request: the realistic Istio ingress CheckRequest, ${encodeCheckRequest(valid).length} bytes encoded, API key ${apiKey.length} bytes.`,
    );
    const files = {
      valid: join(work, 'valid.json'),
      mixed: join(work, 'mixed.json'),
    };
    const deciding = servers.filter((x) => !x.name.startsWith('no-op'));
    for (const s of deciding) await sanityCheck(s, valid, denied);
    notes.push(
      `Checked before load: ${deciding.map((s) => s.name).join(', ')} allow the valid request and deny the other.`,
    );
    writeFileSync(files.valid, JSON.stringify([toGhzJson(valid)]));
    // 10 % denials: a subscribed app's key 9 times, an unsubscribed app's key (403) once.
    writeFileSync(
      files.mixed,
      JSON.stringify([...Array.from({ length: 9 }, () => toGhzJson(valid)), toGhzJson(denied)]),
    );

    log(`warm-up (${servers.map((s) => s.name).join(', ')})`);
    for (const s of servers) await ghzRun(ghz, files.mixed, s, { concurrency: 32, seconds: 0, total: 3000 });

    const record = (
      contender: string,
      workload: string,
      round: number,
      rateTarget: number | null,
      r: Awaited<ReturnType<typeof ghzRun>>,
    ) => {
      results.push({ contender, workload, round, rateTarget, ...r });
      log(
        `${contender.padEnd(12)} ${workload.padEnd(6)} c=${String(r.concurrency).padEnd(3)} ${rateTarget ? `rate=${rateTarget.toFixed(0)} ` : ''}rps=${r.rps.toFixed(0)} p50=${fmt(r.p50, 3)} p99=${fmt(r.p99, 3)} p99.9=${fmt(r.p999, 3)} ms cpu=${fmt(r.cpuUsPerCheck, 1)} us/check err=${r.errors}`,
      );
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? servers : [...servers].reverse();
      for (const c of CONCURRENCIES) {
        for (const s of order)
          record(
            s.name,
            'valid',
            round,
            null,
            await ghzRun(ghz, files.valid, s, { concurrency: c, seconds: MAX_SECONDS }),
          );
      }
      for (const s of order)
        record(
          s.name,
          'mixed',
          round,
          null,
          await ghzRun(ghz, files.mixed, s, { concurrency: 32, seconds: MAX_SECONDS }),
        );
    }
    // Max throughput per contender: best concurrency, median over rounds.
    const maxOf = (name: string) =>
      Math.max(
        ...CONCURRENCIES.map((c) =>
          median(
            results
              .filter(
                (r) => r.contender === name && r.workload === 'valid' && r.concurrency === c && !r.rateTarget,
              )
              .map((r) => r.rps),
          ),
        ),
      );
    const slowest = Math.min(...servers.map((s) => maxOf(s.name)));
    log(
      `slowest contender max: ${slowest.toFixed(0)} req/s; fixed-rate runs at ${RATE_FRACTIONS.join('/')} of it`,
    );
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? servers : [...servers].reverse();
      for (const f of RATE_FRACTIONS) {
        for (const s of order)
          record(
            s.name,
            `rate${f * 100}`,
            round,
            slowest * f,
            await ghzRun(ghz, files.valid, s, { concurrency: 64, seconds: RATE_SECONDS, rps: slowest * f }),
          );
      }
    }
    const mem = Object.fromEntries(servers.map((s) => [s.name, memKb(s.pid)]));
    const metrics = ours.info.adminPort
      ? await fetch(`http://127.0.0.1:${String(ours.info.adminPort)}/metrics`).then((r) => r.text())
      : '';
    const checksByDecision = [
      ...metrics.matchAll(/^mesh_apim_checks_total\{decision="(\w[\w-]*)".*\} (\d+)/gm),
    ].map((m) => `${m[1]}=${m[2]}`);
    const oursKafka = servers.find((s) => s.name === 'ours-kafka');
    const kafkaMetrics = oursKafka
      ? await fetch(`http://127.0.0.1:${String(oursKafka.info.adminPort)}/metrics`).then((r) => r.text())
      : '';
    const emitted = /^mesh_apim_emit_events_emitted_total\{[^}]*\} (\d+)/m.exec(metrics)?.[1];
    notes.push(
      `mesh-apim checks by decision: ${checksByDecision.join(', ')}; events emitted: ${emitted ?? 'n/a'}`,
    );
    // Stopping flushes each emitter's buffer (or spools what the bus does not take in time).
    for (const s of servers) await stop(s);
    servers.length = 0;
    if (oursKafka && kafkaAdmin && kafka) {
      // Count in = count out: every check ours-kafka answered (warm-up included) is one event on the topic.
      const topic = TOPICS.requestAttributes.name;
      const onTopic = (await kafkaAdmin.endOffsets(topic)).reduce((n, p) => n + Number(p.offset), 0);
      kafkaReport = {
        brokers: kafka.brokers,
        pinning: kafka.pinning,
        topic,
        checksAnswered: metricSum(kafkaMetrics, 'mesh_apim_checks_total'),
        eventsOnTopic: onTopic,
        emittedBeforeStop: metricSum(kafkaMetrics, 'mesh_apim_emit_events_emitted_total'),
        spooled: metricSum(kafkaMetrics, 'mesh_apim_emit_events_spooled_total'),
        dropped: metricSum(kafkaMetrics, 'mesh_apim_emit_events_dropped_total'),
        producerErrors: metricSum(kafkaMetrics, 'mesh_apim_emit_producer_errors_total'),
      };
      log(kafkaCountLine(kafkaReport));
    }

    const big = values['no-big'] ? null : await bigSnapshot(Number(values['big-size']), QUICK);
    writeReport({ plan, results, mem, big, notes, slowest, kafka: kafkaReport });
  } finally {
    for (const s of servers) await stop(s);
    if (kafkaAdmin) await Promise.race([kafkaAdmin.close(), new Promise((r) => setTimeout(r, 10_000))]);
    if (kafka) {
      log('stopping Kafka');
      await stopKafka(kafka);
    }
    rmSync(work, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
