/**
 * Composition of one adapter: snapshot source + store, credential chain, throttle state, the gRPC
 * server (Check + health + registered services) and the admin HTTP server. `mesh-apim start` and
 * the tests call startAdapter(); other parts (event emitter, access log) plug in through deps.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../common/config.ts';
import { createLogger } from '../common/log.ts';
import { type AdminServer, startAdminServer } from './admin.ts';
import { CredentialChain, defaultVerifiers } from './credentials/chain.ts';
import type { CredentialVerifier } from './credentials/types.ts';
import { type CheckObserver, type Clock, systemClock } from './domain.ts';
import { createEmission, type Emission } from './emit/index.ts';
import { AdapterError } from './errors.ts';
import { type AdapterMetrics, createAdapterMetrics } from './metrics.ts';
import { AdapterServer, CheckService, type DecideFn } from './server.ts';
import type { SnapshotSource } from './snapshot/source.ts';
import { type RefreshResult, SnapshotStore } from './snapshot/store.ts';
import { ensureSigningKey, type SigningKey } from './standalone/issuer.ts';
import { FRAGMENTS_DIR, StandaloneSource } from './standalone/source.ts';
import { RevocationSet, ThrottleState } from './throttle.ts';

export interface AdapterServices {
  server: AdapterServer;
  store: SnapshotStore;
  metrics: AdapterMetrics;
  check: CheckService;
}

export interface AdapterDeps {
  clock?: Clock;
  /** Snapshot source; default: from config (standalone files; apim is plugged in by its issue). */
  source?: SnapshotSource;
  /** Credential verifiers in precedence order; default defaultVerifiers(). */
  verifiers?: CredentialVerifier[];
  onCheck?: CheckObserver;
  /**
   * Event bus: when given, request events are emitted to it (adapter/emit: the check observer
   * unless onCheck is set, the access-log service, the spool), started and stopped with the adapter.
   */
  bus?: Bus;
  /** Fault injection for tests. */
  decide?: DecideFn;
  /** Called before the gRPC server binds: register more services (access log) here. */
  registerServices?: (services: AdapterServices) => void;
  /** Debounce of file-change reloads (ms). */
  reloadDebounceMs?: number;
}

export interface AdapterHandle extends AdapterServices {
  grpcPort: number;
  adminPort: number;
  throttle: ThrottleState;
  revocations: RevocationSet;
  /** The standalone issuer's key (standalone control plane only). */
  signingKey: SigningKey | null;
  instanceId: string;
  /** Event emission (null without a bus). */
  emission: Emission | null;
  /** First snapshot load result (a failed first load leaves the adapter not ready, not dead). */
  initialLoad: RefreshResult;
  stop(): Promise<void>;
}

export function instanceIdOf(config: Config): string {
  return config.instanceId || `${hostname()}-${process.pid}`;
}

export function fragmentsDirOf(config: Config): string {
  return config.adapter.standaloneFragmentsDir || join(config.dataDir, FRAGMENTS_DIR);
}

/** Builds the configured snapshot source. */
export function createSource(config: Config, signingKey: SigningKey | null): SnapshotSource {
  if (config.adapter.controlPlane === 'apim') {
    throw new AdapterError('adapter.controlPlane "apim" is not available yet in this build');
  }
  return new StandaloneSource({
    file: config.adapter.standaloneFile,
    fragmentsDir: fragmentsDirOf(config),
    extraKeys: signingKey ? [signingKey.trusted] : [],
  });
}

export async function startAdapter(config: Config, deps: AdapterDeps = {}): Promise<AdapterHandle> {
  const log = createLogger('adapter');
  const instanceId = instanceIdOf(config);
  const metrics = createAdapterMetrics();
  const signingKey =
    config.adapter.controlPlane === 'standalone' && !deps.source ? ensureSigningKey(config.dataDir) : null;
  const source = deps.source ?? createSource(config, signingKey);
  const store = new SnapshotStore(source, { metrics, debounceMs: deps.reloadDebounceMs ?? 100 });
  const throttle = new ThrottleState(config.adapter.throttleMaxKeys);
  const revocations = new RevocationSet();
  const chain = new CredentialChain(
    deps.verifiers ?? defaultVerifiers({ apiKey: { allowNoExpiry: config.adapter.apiKeyAllowNoExpiry } }),
  );
  const emission = deps.bus ? createEmission(config, deps.bus, metrics.registry) : null;
  const onCheck = deps.onCheck ?? emission?.onCheck;
  const check = new CheckService({
    snapshot: () => store.current(),
    chain,
    state: { throttle, revocations },
    clock: deps.clock ?? systemClock,
    failureMode: config.adapter.failureMode,
    metrics,
    instanceId,
    ...(onCheck ? { onCheck } : {}),
    ...(deps.decide ? { decide: deps.decide } : {}),
  });
  const server = new AdapterServer({ check });
  emission?.register(server);
  deps.registerServices?.({ server, store, metrics, check });
  // Before serving: events spooled by a previous run start draining, and no check waits on it.
  await emission?.start();

  const initialLoad = await store.start();
  server.setServing(store.ready);
  store.onSwap(() => server.setServing(true));
  const sweeper = setInterval(() => {
    const now = (deps.clock ?? systemClock).now();
    throttle.sweep(now);
    revocations.prune(now);
    metrics.throttleKeys.set(throttle.size);
  }, 30_000);
  sweeper.unref();

  let admin: AdminServer | null = null;
  let grpcPort: number;
  try {
    grpcPort = await server.start(config.adapter.grpcAddress);
    admin = await startAdminServer(config.adapter.adminAddress, { metrics, store });
  } catch (err) {
    clearInterval(sweeper);
    store.stop();
    await server.stop(0);
    await emission?.stop();
    throw err;
  }
  log.info(
    { grpcPort, adminPort: admin.port, ready: store.ready, failureMode: config.adapter.failureMode },
    'adapter started',
  );
  const adminServer = admin;
  let stopped: Promise<void> | null = null;
  return {
    grpcPort,
    adminPort: adminServer.port,
    server,
    store,
    metrics,
    check,
    throttle,
    revocations,
    signingKey,
    instanceId,
    emission,
    initialLoad,
    stop() {
      stopped ??= (async () => {
        clearInterval(sweeper);
        store.stop();
        server.setServing(false);
        await server.stop();
        // After the server: the last checks and access logs are in the buffer, flushed or spooled here.
        await emission?.stop();
        await adminServer.close();
        log.info('adapter stopped');
      })();
      return stopped;
    },
  };
}
