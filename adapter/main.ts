/**
 * Composition root of the adapter: snapshot source + store, credential chain, throttle state, the
 * revocation feed (revoked set loaded before serving, then followed), the gRPC server (Check + health
 * + registered services) and the admin HTTP server. The pipeline (pipeline/main.ts) and the tests
 * call startAdapter(); other parts (event emitter, access log) plug in through deps.
 */

import { type InternalDataClient, internalDataClientFor } from '../apim/internal-data-client.ts';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../common/config/index.ts';
import { createLogger } from '../common/log.ts';
import { registerProcessMetrics } from '../common/process-metrics.ts';
import { type AdminServer, startAdminServer } from './admin.ts';
import type { CheckObserver } from './check-record.ts';
import { ApimSnapshotSource, createApimSource, registerApimMetrics } from './controlplane/apim/source.ts';
import { CredentialChain, defaultVerifiers } from './credentials/chain.ts';
import { oauthVerifiers } from './credentials/oauth.ts';
import { OpaqueTokenVerifier } from './credentials/oauth-opaque.ts';
import type { CredentialVerifier } from './credentials/types.ts';
import { type Clock, systemClock } from './domain.ts';
import { createEmission, type Emission } from './emit/index.ts';
import { monitorLoopDelay } from './loop-delay.ts';
import { type AdapterMetrics, createAdapterMetrics } from './metrics.ts';
import { ThrottleState } from './policy/throttle.ts';
import { QuotaSync } from './quota/sync.ts';
import { resolveFragmentsDir, resolveInstanceId } from './resolved.ts';
import { type RevocationRuntime, startRevocationFeed } from './revocation/index.ts';
import { RevocationStore } from './revocation/store.ts';
import { AdapterServer, CheckService, type DecideFn } from './server.ts';
import { ShadowEnforcement } from './shadow.ts';
import type { SnapshotSource } from './snapshot/source.ts';
import { type RefreshResult, SnapshotStore } from './snapshot/store.ts';
import { ensureSigningKey, type SigningKey } from './standalone/issuer.ts';
import { StandaloneSource } from './standalone/source.ts';
import { createCheckTracer, type TracingOptions } from './tracing.ts';

export interface AdapterServices {
  server: AdapterServer;
  store: SnapshotStore;
  metrics: AdapterMetrics;
  check: CheckService;
}

export interface AdapterDeps {
  clock?: Clock;
  /** Snapshot source; default: from config (adapter.controlPlane: standalone files or API Manager). */
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
  /** The revoked set the revocation feed fills (adapter/revocation); default: a new empty one. */
  revocations?: RevocationStore;
  /**
   * Run the revocation feed (adapter/revocation): load the revoked set (data directory or API
   * Manager's revokedjwt) before anything else starts, then follow the own SQS queue or the bus's
   * token-revoked; stopped after the servers. The pipeline turns it on; tests and benches that fill
   * `revocations` themselves leave it off (the default).
   */
  revocationFeed?: boolean;
  /** Debounce of file-change reloads (ms). */
  reloadDebounceMs?: number;
  /** Tracing seams for tests (an in-memory exporter); used only when adapter.tracing is on. */
  tracing?: TracingOptions;
}

export interface AdapterHandle extends AdapterServices {
  grpcPort: number;
  adminPort: number;
  throttle: ThrottleState;
  revocations: RevocationStore;
  /** The standalone issuer's key (standalone control plane only). */
  signingKey: SigningKey | null;
  instanceId: string;
  /** The revocation feed (null unless deps.revocationFeed). */
  revocationFeed: RevocationRuntime | null;
  /** Event emission (null without a bus). */
  emission: Emission | null;
  /** First snapshot load result (a failed first load leaves the adapter not ready, not dead). */
  initialLoad: RefreshResult;
  stop(): Promise<void>;
}

function createQuotaSync(
  config: Config,
  bus: Bus,
  clock: Clock,
  metrics: AdapterMetrics,
  instanceId: string,
): QuotaSync {
  const a = config.adapter;
  return new QuotaSync({
    bus,
    topicPrefix: config.bus.topicPrefix,
    clock,
    registry: metrics.registry,
    instanceId,
    intervalMs: a.throttleSyncIntervalMs,
    leaseTimeoutMs: a.throttleSyncLeaseTimeoutMs,
    expectedInstances: a.throttleSyncExpectedInstances,
    localBelowMs: a.throttleSyncLocalBelowMs,
    catchUpTimeoutMs: a.throttleSyncCatchUpTimeoutMs,
    fullEveryMs: Math.max(10_000, 40 * a.throttleSyncIntervalMs),
  });
}

/**
 * Builds the configured snapshot source; with API Manager as control plane over `internalData` (the
 * client the revocation feed pulls revokedjwt with), else a client of its own.
 */
export function createSource(
  config: Config,
  signingKey: SigningKey | null,
  clock?: Clock,
  internalData?: InternalDataClient,
): SnapshotSource {
  if (config.adapter.controlPlane === 'apim') return createApimSource(config, clock, internalData);
  return new StandaloneSource({
    file: config.adapter.standaloneFile,
    fragmentsDir: resolveFragmentsDir(config),
    extraKeys: signingKey ? [signingKey.trusted] : [],
  });
}

export async function startAdapter(config: Config, deps: AdapterDeps = {}): Promise<AdapterHandle> {
  const instanceId = resolveInstanceId(config);
  const revocations = deps.revocations ?? new RevocationStore();
  // One internal data client per adapter: the snapshot pulls and the revokedjwt pull share it.
  const internalData =
    config.adapter.controlPlane === 'apim' && (deps.revocationFeed || !deps.source)
      ? internalDataClientFor(config.apim)
      : null;
  // First, as `start` always did: the revoked set is loaded before the adapter can report ready.
  const revocationFeed = deps.revocationFeed
    ? await startRevocationFeed(config, {
        instanceId,
        store: revocations,
        internalData,
        ...(deps.bus ? { bus: deps.bus } : {}),
      })
    : null;
  let serving: AdapterHandle;
  try {
    serving = await startServing(config, deps, { instanceId, revocations, internalData, revocationFeed });
  } catch (err) {
    await revocationFeed?.stop();
    throw err;
  }
  if (!revocationFeed) return serving;
  let stopped: Promise<void> | null = null;
  return {
    ...serving,
    stop() {
      stopped ??= (async () => {
        await serving.stop();
        await revocationFeed.stop();
      })();
      return stopped;
    },
  };
}

async function startServing(
  config: Config,
  deps: AdapterDeps,
  resolved: {
    instanceId: string;
    revocations: RevocationStore;
    internalData: InternalDataClient | null;
    revocationFeed: RevocationRuntime | null;
  },
): Promise<AdapterHandle> {
  const log = createLogger('adapter');
  const { instanceId, revocations, revocationFeed } = resolved;
  const metrics = createAdapterMetrics();
  const loopDelay = monitorLoopDelay(metrics.registry);
  registerProcessMetrics(metrics.registry, 'adapter');
  const signingKey =
    config.adapter.controlPlane === 'standalone' && !deps.source ? ensureSigningKey(config.dataDir) : null;
  const clock = deps.clock ?? systemClock;
  const source = deps.source ?? createSource(config, signingKey, clock, resolved.internalData ?? undefined);
  const store = new SnapshotStore(source, { metrics, debounceMs: deps.reloadDebounceMs ?? 100 });
  if (source instanceof ApimSnapshotSource) registerApimMetrics(metrics.registry, source, clock);
  // Cluster-wide quotas need the bus the instances share; without one every quota is per instance.
  const quota =
    deps.bus && config.adapter.throttleSync
      ? createQuotaSync(config, deps.bus, clock, metrics, instanceId)
      : null;
  const throttle = new ThrottleState(config.adapter.throttleMaxKeys, {
    onRefused: (anonymous) =>
      metrics.throttleRefused.inc({ client: anonymous ? 'unauthenticated' : 'authenticated' }),
    ...(quota ? { budget: quota.leases } : {}),
  });
  const verifiers = deps.verifiers ?? [
    ...defaultVerifiers({
      apiKey: {
        allowNoExpiry: config.adapter.apiKeyAllowNoExpiry,
        cacheMaxBytes: config.adapter.credentialCacheMaxBytes,
      },
    }),
    ...oauthVerifiers(config, clock, metrics.registry),
  ];
  // decide() denies a revoked opaque token by its digest; dropping the cached introspection answer
  // too means the token is asked again (not served as active) if it is ever reinstated.
  // The store may outlive this adapter (passed in by `start`): listeners are removed on stop.
  const unlisten = verifiers
    .filter((v): v is OpaqueTokenVerifier => v instanceof OpaqueTokenVerifier)
    .map((v) =>
      revocations.onRevoked((e) => {
        if (e.kind === 'token') v.forgetDigest(e.value);
      }),
    );
  const chain = new CredentialChain(verifiers);
  const emission = deps.bus ? createEmission(config, deps.bus, metrics.registry) : null;
  const onCheck = deps.onCheck ?? emission?.onCheck;
  // Loads the OpenTelemetry SDK only when tracing is on (null otherwise).
  const tracer = await createCheckTracer(config.adapter.tracing, deps.tracing);
  const shadow = new ShadowEnforcement({
    mode: config.adapter.enforcement,
    registry: metrics.registry,
    logger: createLogger('shadow'),
  });
  const check = new CheckService({
    snapshot: () => store.current(),
    chain,
    state: { throttle, revocations },
    clock,
    failureMode: config.adapter.failureMode,
    metrics,
    instanceId,
    xffTrustedHops: config.adapter.xffTrustedHops,
    clientCertificate: {
      clientCertificateSource: config.adapter.clientCertificateSource,
      xfccTrustedPrincipals: new Set(config.adapter.xfccTrustedPrincipals),
    },
    ...(onCheck ? { onCheck } : {}),
    ...(deps.decide ? { decide: deps.decide } : {}),
    shadow,
    tracer,
  });
  const a = config.adapter;
  const server = new AdapterServer({
    check,
    transport: a.transport,
    limits: a.grpc,
    errors: metrics.transportErrors,
  });
  emission?.register(server);
  deps.registerServices?.({ server, store, metrics, check });
  // Before serving: events spooled by a previous run start draining, and no check waits on it.
  await emission?.start();
  await quota?.start();

  const initialLoad = await store.start();
  server.setServing(store.ready);
  store.onSwap(() => server.setServing(true));
  const sweeper = setInterval(() => {
    const now = clock.now();
    throttle.sweep(now);
    revocations.prune(now);
    metrics.throttleKeys.set(throttle.size);
  }, 30_000);
  sweeper.unref();

  let admin: AdminServer | null = null;
  let draining = false;
  let grpcPort: number;
  try {
    grpcPort = await server.start(config.adapter.grpcAddress);
    admin = await startAdminServer(config.adapter.adminAddress, {
      metrics,
      store,
      draining: () => draining,
      ...(quota ? { quota: () => quota.status() } : {}),
    });
  } catch (err) {
    for (const off of unlisten) off();
    clearInterval(sweeper);
    store.stop();
    await server.stop(0);
    await quota?.stop();
    await emission?.stop();
    await tracer?.shutdown();
    loopDelay.stop();
    throw err;
  }
  log.info(
    {
      grpcPort,
      adminPort: admin.port,
      ready: store.ready,
      failureMode: config.adapter.failureMode,
      transport: config.adapter.transport,
      enforcement: config.adapter.enforcement,
      tracing: tracer !== null,
    },
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
    revocationFeed,
    emission,
    initialLoad,
    stop() {
      stopped ??= (async () => {
        if (config.adapter.drainMs > 0) {
          draining = true;
          log.info({ drainMs: config.adapter.drainMs }, 'draining: not ready, still answering checks');
          await new Promise((resolve) => setTimeout(resolve, config.adapter.drainMs));
        }
        for (const off of unlisten) off();
        clearInterval(sweeper);
        store.stop();
        server.setServing(false);
        await server.stop();
        await quota?.stop();
        // After the server: the last checks and access logs are in the buffer, flushed or spooled here.
        await emission?.stop();
        // Exports the spans still batched.
        await tracer?.shutdown();
        await adminServer.close();
        loopDelay.stop();
        log.info('adapter stopped');
      })();
      return stopped;
    },
  };
}
