/**
 * Starts a real adapter (gRPC + admin on 127.0.0.1:0) over a temporary data directory and a copy
 * of a standalone file, with a manual clock, plus a CheckClient connected to it.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../adapter/domain.ts';
import { type AdapterDeps, type AdapterHandle, startAdapter } from '../../adapter/main.ts';
import { type IssueApiKeyOptions, issueApiKey } from '../../adapter/standalone/issuer.ts';
import type { TransportKind } from '../../adapter/transport/types.ts';
import { loadConfig } from '../../common/config/index.ts';
import { CheckClient } from './check-client.ts';

/** Both gRPC transports: the end-to-end suites run on each (describe.each(TRANSPORTS)). */
export const TRANSPORTS = ['http2', 'grpc-js'] as const satisfies readonly TransportKind[];

export const SHIPPED_STANDALONE = new URL('../../config/standalone.yaml', import.meta.url).pathname;

export class ManualClock implements Clock {
  constructor(public ms = Date.UTC(2030, 0, 1, 12, 0, 0)) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface TestAdapter {
  adapter: AdapterHandle;
  client: CheckClient;
  clock: ManualClock;
  dir: string;
  standaloneFile: string;
  fragmentsDir: string;
  /** Issues an API key with the adapter's own signing key, at the manual clock's time. */
  apiKey(application: string, options?: Omit<IssueApiKeyOptions, 'application'>): Promise<string>;
  close(): Promise<void>;
}

export interface TestAdapterOptions {
  /** Standalone YAML content; default: the shipped config/standalone.yaml. */
  yaml?: string;
  overrides?: Record<string, unknown>;
  deps?: AdapterDeps;
  clock?: ManualClock;
  /** adapter.transport (default: the configured default, http2). */
  transport?: TransportKind;
}

export async function startTestAdapter(options: TestAdapterOptions = {}): Promise<TestAdapter> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-adapter-'));
  const standaloneFile = join(dir, 'standalone.yaml');
  if (options.yaml !== undefined) writeFileSync(standaloneFile, options.yaml);
  else copyFileSync(SHIPPED_STANDALONE, standaloneFile);
  const dataDir = join(dir, 'data');
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      'adapter.grpcAddress': '127.0.0.1:0',
      'adapter.adminAddress': '127.0.0.1:0',
      'adapter.standaloneFile': standaloneFile,
      instanceId: 'test-adapter',
      ...(options.transport ? { 'adapter.transport': options.transport } : {}),
      ...options.overrides,
    },
  });
  const clock = options.clock ?? new ManualClock();
  const adapter = await startAdapter(config, { clock, reloadDebounceMs: 20, ...options.deps });
  const client = new CheckClient(`127.0.0.1:${adapter.grpcPort}`);
  return {
    adapter,
    client,
    clock,
    dir,
    standaloneFile,
    fragmentsDir: join(dataDir, 'standalone.d'),
    async apiKey(application, opts = {}) {
      const snapshot = adapter.store.current();
      if (!snapshot || !adapter.signingKey) throw new Error('adapter has no snapshot or signing key');
      return issueApiKey(snapshot, adapter.signingKey, { application, now: clock.now(), ...opts });
    },
    async close() {
      client.close();
      await adapter.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
