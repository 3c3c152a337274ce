/**
 * Crash safety with a real process: a child spools events (bus down) and is SIGKILLed while still
 * emitting; a new emitter over the same data directory delivers everything that was spooled, in
 * order, with no gap and no duplicate. Only the killed process's in-memory tail may be missing.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterEach, expect, it } from 'vitest';
import { EMITTER_DEFAULTS } from '../../adapter/emit/config.ts';
import { Emitter } from '../../adapter/emit/emitter.ts';
import { MemoryBus } from '../../bus/memory.ts';
import { TOPICS } from '../../events/topics.ts';
import { seqOf, silentLogger, tempDir, until } from '../adapter/emit/helpers.ts';

const fixture = fileURLToPath(new URL('../adapter/emit/fixtures/spool-writer.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

it('events spooled before a SIGKILL are delivered after restart, in order, none missing in between', async () => {
  const { dir, cleanup } = tempDir('sigkill-');
  cleanups.push(cleanup);
  const n = 500;
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(n)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  cleanups.push(() => child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('spooled')) resolve();
    });
    child.on('exit', () => reject(new Error(`child exited before spooling: ${out}`)));
  });
  expect(child.kill('SIGKILL')).toBe(true);
  expect(await exited).toBe('SIGKILL');

  const bus = new MemoryBus();
  const emitter = new Emitter({
    ...EMITTER_DEFAULTS,
    bus,
    dataDir: dir,
    registry: new Registry(),
    lingerMs: 1,
    logger: silentLogger,
  });
  cleanups.push(() => emitter.stop());
  await emitter.start();
  const spooled = emitter.spool.pending;
  expect(spooled).toBeGreaterThanOrEqual(n);
  await until(() => emitter.spool.isEmpty(), 'spool drained', 30_000);
  const seqs = bus.records(TOPICS.requestAttributes.name).map((r) => seqOf(r.value));
  expect(seqs.length).toBe(spooled);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
});
