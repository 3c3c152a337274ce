/**
 * The single-node Kafka of the ours-kafka contender, started by the suite itself (infra/kafka/kafka.sh,
 * free port pair, run dir given by the caller) and stopped at the end whatever happens; a broker named
 * by KAFKA_BROKERS is not used (its other load would be measured too).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { log } from './log.ts';
import { REPO_DIR } from './tools.ts';

const KAFKA_SH = join(REPO_DIR, 'infra', 'kafka', 'kafka.sh');
const execFileP = promisify(execFile);

/** A port p with p and p+1 (the controller's) free, away from kafka.sh's default 19092. */
async function freePortPair(): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | null>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(null));
      srv.listen(port, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
  for (let i = 0; i < 20; i++) {
    const p = await tryListen(0);
    if (p && p < 65535 && p !== 19092 && (await tryListen(p + 1))) return p;
  }
  throw new Error('no free port pair for Kafka');
}

export interface Kafka {
  brokers: string;
  env: NodeJS.ProcessEnv;
  pinning: string;
  stopped: boolean;
}

// Set while a broker of ours runs, so an exit or a signal still stops it (kafka.sh detaches it with setsid).
let runningKafka: Kafka | null = null;
export function stopKafkaSync(): void {
  const k = runningKafka;
  if (!k || k.stopped) return;
  k.stopped = true;
  runningKafka = null;
  try {
    execFileSync('bash', [KAFKA_SH, 'stop'], { env: k.env, stdio: 'ignore', timeout: 60_000 });
  } catch {
    // kafka.sh stop escalates to SIGKILL itself; nothing more to do on the way out.
  }
}
/** A broker of ours on a free port pair, its JVM pinned to `cpus` (taskset list, 'all': unpinned). */
export async function startKafka(runDir: string, cpus: string): Promise<Kafka> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    const port = await freePortPair();
    // A fresh run dir per attempt: a half-formatted one would carry the other attempt's ports.
    const dir = `${runDir}-${attempt}`;
    const env = {
      ...process.env,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(port + 1),
      KAFKA_RUN_DIR: dir,
      KAFKA_START_TIMEOUT: '300',
    };
    const pinning = cpus === 'all' ? 'unpinned (all cores)' : `pinned to core ${cpus} (taskset; ghz's core)`;
    const k: Kafka = { brokers: `127.0.0.1:${port}`, env, pinning, stopped: false };
    runningKafka = k;
    log(`starting Kafka on ${k.brokers} (run dir ${dir}; JVM ${pinning})`);
    // The JVM inherits kafka.sh's CPU affinity.
    const [file, ...args] =
      cpus === 'all' ? ['bash', KAFKA_SH, 'start'] : ['taskset', '-c', cpus, 'bash', KAFKA_SH, 'start'];
    try {
      await execFileP(file!, args, { env, timeout: 330_000 });
      return k;
    } catch (err) {
      lastErr = err;
      log(
        `Kafka start failed: ${(err as { stderr?: string }).stderr?.trim().split('\n').slice(-5).join(' | ') ?? err}`,
      );
      stopKafkaSync();
    }
  }
  throw lastErr;
}

export async function stopKafka(k: Kafka): Promise<void> {
  if (k.stopped) return;
  k.stopped = true;
  if (runningKafka === k) runningKafka = null;
  await execFileP('bash', [KAFKA_SH, 'stop'], { env: k.env, timeout: 90_000 }).catch((err: unknown) =>
    log(`kafka.sh stop: ${(err as Error).message}`),
  );
}
