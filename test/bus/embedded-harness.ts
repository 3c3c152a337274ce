import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { EMBEDDED_BUS_DEFAULTS } from '../../bus/config.ts';
import { EmbeddedBus, type EmbeddedBusOptions } from '../../bus/embedded/index.ts';
import type { BusHarness } from './conformance.ts';

/** Embedded log in a temp dir; an "outage" is another process-like connection holding the write lock. */
export function embeddedHarness(
  options: Partial<EmbeddedBusOptions> = {},
): BusHarness & { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-bus-'));
  const open = (): EmbeddedBus =>
    new EmbeddedBus({
      ...EMBEDDED_BUS_DEFAULTS,
      dir,
      pollIntervalMs: 20,
      busyTimeoutMs: 100,
      fsync: false,
      ...options,
    });
  return {
    dir,
    open: async () => open(),
    interrupt: async () => {
      const locker = new Database(join(dir, 'log.db'));
      locker.exec('BEGIN IMMEDIATE');
      await sleep(2000);
      locker.exec('COMMIT');
      locker.close();
    },
    retentionPass: async (bus) => {
      await (bus as EmbeddedBus).enforceRetention();
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
