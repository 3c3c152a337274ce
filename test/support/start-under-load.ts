/**
 * `mesh-apim start` (embedded log, access logs off: every check emits) as a real process under check
 * load, stopped by signals while checks are in flight; then every answered check's event is looked
 * for on the log and in what the process left for its next start (spool + journal, drained by a new
 * emitter into a memory bus). Used by test/scenarios/start-signals.e2e.test.ts and bench/emit-signals.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { CheckClient } from '../../adapter/check-client.ts';
import { EMITTER_DEFAULTS } from '../../adapter/emit/config.ts';
import { Emitter } from '../../adapter/emit/emitter.ts';
import { EMBEDDED_BUS_DEFAULTS } from '../../bus/config.ts';
import { EmbeddedBus } from '../../bus/embedded/index.ts';
import { MemoryBus } from '../../bus/memory.ts';
import type { RequestAttributes } from '../../events/request-attributes.ts';
import { TOPICS } from '../../events/topics.ts';

const bin = new URL('../../bin/mesh-apim.js', import.meta.url).pathname;
const repoRoot = new URL('../../', import.meta.url).pathname;
const TOPIC = TOPICS.requestAttributes.name;

export interface SignalRun {
  answered: number;
  /** Answered checks whose event is neither on the log nor recoverable by the next start. */
  missing: number;
  onLog: number;
  recovered: number;
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

export async function startUnderLoad(o: {
  /** Signals to send, and the delay before each (ms), once `after` checks were answered. */
  signals: { signal: NodeJS.Signals; delayMs: number }[];
  after: number;
  concurrency?: number;
  env?: Record<string, string>;
}): Promise<SignalRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-apim-signals-'));
  try {
    const child = spawn(process.execPath, [bin, 'start'], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        MESH_APIM_DATA_DIR: dataDir,
        MESH_APIM_ADAPTER_GRPC_ADDRESS: '127.0.0.1:0',
        MESH_APIM_ADAPTER_ADMIN_ADDRESS: '127.0.0.1:0',
        MESH_APIM_ADAPTER_ACCESS_LOGS: 'false',
        KAFKA_BROKERS: '',
        MESH_APIM_LOG_LEVEL: 'info',
        ...o.env,
      },
    });
    const exited = new Promise<SignalRun['exit']>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /"grpcPort":(\d+).*"msg":"adapter started"/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`start exited early:\n${stderr}`)));
    });
    const client = new CheckClient(`127.0.0.1:${port}`);
    const answered = new Set<string>();
    let next = 0;
    let serving = true;
    let signalled = false;
    const loops = Array.from({ length: o.concurrency ?? 16 }, async () => {
      while (serving) {
        const id = `load-${next++}`;
        try {
          // No key: denied (401), and denials are always emitted from the check.
          await client.check({ path: '/petstore/v1/pets', requestId: id });
          answered.add(id);
        } catch {
          if (signalled) serving = false; // the server went away: stop this loop
        }
        if (!signalled && answered.size >= o.after) {
          signalled = true;
          void (async () => {
            for (const s of o.signals) {
              if (s.delayMs > 0) await sleep(s.delayMs);
              child.kill(s.signal);
            }
          })();
        }
      }
    });
    const exit = await exited;
    serving = false;
    await Promise.all(loops);
    client.close();

    const seen = new Set<string>();
    const bus = new EmbeddedBus({
      ...EMBEDDED_BUS_DEFAULTS,
      dir: join(dataDir, 'bus'),
      logger: pino({ level: 'silent' }),
    });
    let onLog = 0;
    for (const { partition, offset } of await bus.endOffsets(TOPIC)) {
      for (const r of await bus.read(TOPIC, partition, '0', Number(offset))) {
        seen.add((JSON.parse(r.value!.toString()) as RequestAttributes).requestId);
        onLog++;
      }
    }
    await bus.close();
    const mem = new MemoryBus();
    const emitter = new Emitter({
      ...EMITTER_DEFAULTS,
      bus: mem,
      dataDir,
      registry: new Registry(),
      lingerMs: 1,
      logger: pino({ level: 'silent' }),
    });
    await emitter.start();
    while (!emitter.spool.isEmpty() || emitter.buffered > 0) await sleep(5);
    await emitter.stop();
    const leftOver = mem.records(TOPIC);
    for (const r of leftOver) seen.add((JSON.parse(r.value!.toString()) as RequestAttributes).requestId);
    let missing = 0;
    for (const id of answered) if (!seen.has(id)) missing++;
    return { answered: answered.size, missing, onLog, recovered: leftOver.length, exit };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
