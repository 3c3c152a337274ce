/**
 * WSO2 API Manager as the live control plane. Each load() pulls every collection from the internal
 * data API, maps and compiles it into a snapshot, and stores the pull as the last good one; the
 * SnapshotStore swaps it in atomically (a failed or partial pull throws, so the store keeps what it
 * has). When API Manager is unreachable at start, the last good pull from `<dataDir>/snapshot/` is
 * served instead, flagged stale (gauge + log) until a pull succeeds. Pulls happen every
 * refreshIntervalMs (watch()) and on demand (refreshControlPlane(), for change notifications).
 */
import { readFileSync } from 'node:fs';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { z } from 'zod';
import { type InternalDataClient, internalDataClientFor } from '../../../apim/internal-data-client.ts';
import type { ApimData } from '../../../apim/internal-data-types.ts';
import type { Config } from '../../../common/config/index.ts';
import { ConfigError, errorMessage } from '../../../common/errors.ts';
import { createLogger } from '../../../common/log.ts';
import { type Clock, systemClock } from '../../domain.ts';
import { compileSnapshot } from '../../snapshot/compile.ts';
import type { KeyIssuerData } from '../../snapshot/model.ts';
import type { SnapshotSource } from '../../snapshot/source.ts';
import type { RefreshResult, SnapshotStore } from '../../snapshot/store.ts';
import type { Snapshot } from '../../snapshot/types.ts';
import { ClientCertificateFetcher, clientCertificateFetcherFor } from './client-certificates.ts';
import { mapApimData } from './mapping.ts';
import { loadLastGood, saveLastGood } from './persist.ts';

const log = createLogger('apim-source');

export interface ApimSnapshotSourceOptions {
  client: Pick<InternalDataClient, 'fetchAll'>;
  /** Client certificates of mutualssl APIs from the Publisher API (absent = none fetched: fail closed). */
  certificates?: Pick<ClientCertificateFetcher, 'fetch'>;
  /** Where the last good pull is kept (`<dataDir>/snapshot/`). */
  dataDir: string;
  /** API Manager URL, recorded with the persisted pull. */
  url: string;
  /** Period of the pull; 0 = only on demand. */
  refreshIntervalMs: number;
  keyIssuers?: z.input<typeof KeyIssuerData>[];
  clock?: Clock;
}

export class ApimSnapshotSource implements SnapshotSource {
  readonly name = 'apim';
  /** True while the snapshot in force is older than the last pull attempt (disk copy or failed pull). */
  stale = false;
  /** ms since epoch of the last successful pull (or of the persisted pull served), null = none. */
  lastSuccessAt: number | null = null;
  private served = false;
  readonly certificates: ApimSnapshotSourceOptions['certificates'];
  private readonly options: ApimSnapshotSourceOptions;
  private readonly clock: Clock;

  constructor(options: ApimSnapshotSourceOptions) {
    this.options = options;
    this.certificates = options.certificates;
    this.clock = options.clock ?? systemClock;
  }

  compile(pull: ApimData): Snapshot {
    const { data, skipped } = mapApimData(pull, { keyIssuers: this.options.keyIssuers ?? [] });
    if (skipped.length)
      log.warn({ skipped: skipped.slice(0, 50), count: skipped.length }, 'API Manager entities left out');
    return compileSnapshot(data, { source: this.name, applicationNamesAreKeys: false });
  }

  async load(): Promise<Snapshot> {
    let pull: ApimData;
    let snapshot: Snapshot;
    try {
      pull = await this.options.client.fetchAll();
      // Never throws: a failed API is left without certificates (900911), logged and counted.
      if (this.options.certificates)
        pull = { ...pull, clientCertificates: await this.options.certificates.fetch(pull.apis) };
      snapshot = this.compile(pull);
    } catch (err) {
      this.stale = this.served;
      if (!this.served) {
        const disk = this.fromDisk(err);
        if (disk) return disk;
      }
      throw err;
    }
    try {
      saveLastGood(this.options.dataDir, this.options.url, pull, new Date(this.clock.now()));
    } catch (err) {
      // Serving the fresh pull matters more than keeping a copy of it.
      log.error(
        { err: errorMessage(err), dataDir: this.options.dataDir },
        'cannot persist the API Manager pull',
      );
    }
    if (this.stale) log.info('API Manager reachable again; snapshot is current');
    this.stale = false;
    this.served = true;
    this.lastSuccessAt = this.clock.now();
    return snapshot;
  }

  private fromDisk(pullError: unknown): Snapshot | undefined {
    let persisted: ReturnType<typeof loadLastGood>;
    try {
      persisted = loadLastGood(this.options.dataDir);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'stored API Manager pull unusable');
      return undefined;
    }
    if (!persisted) return undefined;
    const snapshot = this.compile(persisted.data);
    this.stale = true;
    this.served = true;
    this.lastSuccessAt = Date.parse(persisted.savedAt);
    log.warn(
      { err: errorMessage(pullError), savedAt: persisted.savedAt, source: persisted.source },
      'API Manager unreachable; serving the last good snapshot from disk (stale)',
    );
    return snapshot;
  }

  watch(onChange: () => void): () => void {
    if (this.options.refreshIntervalMs <= 0) return () => {};
    const timer = setInterval(onChange, this.options.refreshIntervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

/**
 * Pull from API Manager now: what a change notification (API, application, subscription, key
 * mapping or policy changed) triggers. Concurrent calls share one pull; the swap is atomic.
 */
export function refreshControlPlane(store: SnapshotStore): Promise<RefreshResult> {
  return store.refresh();
}

/** `mesh_apim_snapshot_stale` (1 = serving an old snapshot) and the age of the data in force. */
export function registerApimMetrics(
  registry: Registry,
  source: ApimSnapshotSource,
  clock: Clock = systemClock,
): void {
  const failures = new Counter({
    name: 'mesh_apim_client_certificate_fetch_failures_total',
    help: 'Client-certificate reads from the API Manager Publisher API that failed, by reason (request: the mutual-TLS API is left without certificates and refuses every call, 900911; bad_certificate: one unusable upload left out; no_uuid)',
    labelNames: ['reason'],
    registers: [registry],
  });
  if (source.certificates instanceof ClientCertificateFetcher)
    source.certificates.onFailure = (reason) => failures.inc({ reason });
  new Gauge({
    name: 'mesh_apim_snapshot_stale',
    help: '1 when the snapshot in force is not from the latest API Manager pull (started from disk or the last pull failed)',
    registers: [registry],
    collect() {
      this.set(source.stale ? 1 : 0);
    },
  });
  new Gauge({
    name: 'mesh_apim_snapshot_age_seconds',
    help: 'Seconds since the data in force was pulled from API Manager',
    registers: [registry],
    collect() {
      this.set(source.lastSuccessAt === null ? 0 : (clock.now() - source.lastSuccessAt) / 1000);
    },
  });
}

/** The source `adapter.controlPlane: apim` selects, from the `apim` settings (over `client` when given). */
export function createApimSource(
  config: Config,
  clock?: Clock,
  client: InternalDataClient = internalDataClientFor(config.apim),
): ApimSnapshotSource {
  const { apim } = config;
  let keyIssuers: z.input<typeof KeyIssuerData>[] = [];
  if (apim.apiKeyCertificateFile) {
    let certificate: string;
    try {
      certificate = readFileSync(apim.apiKeyCertificateFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`apim.apiKeyCertificateFile ${apim.apiKeyCertificateFile}: ${errorMessage(err)}`);
    }
    keyIssuers = [{ name: 'apim', certificate, kid: apim.apiKeyKid }];
  }
  return new ApimSnapshotSource({
    client,
    dataDir: config.dataDir,
    url: apim.url,
    refreshIntervalMs: apim.refreshIntervalMs,
    keyIssuers,
    certificates: clientCertificateFetcherFor(apim),
    ...(clock ? { clock } : {}),
  });
}
