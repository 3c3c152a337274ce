/**
 * Cluster-wide quotas, the transport: publishes this instance's throttle report on the throttle
 * topic every sync interval and reads every instance's reports into the pure core (leases.ts). Never
 * on the check path: checks read only the in-memory leases.
 */
import { randomBytes } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import { publish } from '../../bus/publish.ts';
import { topicSpecs } from '../../bus/topics.ts';
import type { Bus, Subscription } from '../../bus/types.ts';
import { createLogger } from '../../common/log.ts';
import { ThrottleCounts } from '../../events/throttle-counts.ts';
import { TOPICS, topicName } from '../../events/topics.ts';
import type { Clock } from '../domain.ts';
import { type LeaseOptions, type LeaseStatus, QuotaLeases } from './leases.ts';

export interface QuotaSyncOptions extends Omit<LeaseOptions, 'boot'> {
  bus: Bus;
  topicPrefix: string;
  clock: Clock;
  registry: Registry;
  /** How long start() waits for the topic to be read up to its end (the fallback applies meanwhile). */
  catchUpTimeoutMs: number;
}

export class QuotaSync {
  readonly leases: QuotaLeases;
  private readonly topic: string;
  private readonly log = createLogger('quota-sync');
  private timer: NodeJS.Timeout | null = null;
  private subscription: Subscription | null = null;
  private inFlight = false;
  private stopped = false;
  private readonly publishErrors: Counter;
  private readonly badReports: Counter;
  private readonly fallbackEntered: Counter<'reason'>;
  private lastMode: string | null = null;
  /** A fallback other than the start's catch-up has happened. */
  private faulted = false;

  constructor(private readonly o: QuotaSyncOptions) {
    this.leases = new QuotaLeases({ ...o, boot: randomBytes(6).toString('base64url') });
    this.topic = topicName(TOPICS.throttle, o.topicPrefix);
    const registers = [o.registry];
    const leases = this.leases;
    const clock = o.clock;
    this.publishErrors = new Counter({
      name: 'mesh_apim_throttle_sync_publish_errors_total',
      help: 'Throttle reports the bus did not take (cluster-wide quotas)',
      registers,
    });
    this.badReports = new Counter({
      name: 'mesh_apim_throttle_sync_bad_reports_total',
      help: 'Records on the throttle topic that are not a valid throttle-counts report (skipped)',
      registers,
    });
    this.fallbackEntered = new Counter({
      name: 'mesh_apim_throttle_sync_fallback_total',
      help: 'Times this instance fell back to limit / expected instances (reason: catching-up | broker-unreachable)',
      labelNames: ['reason'] as const,
      registers,
    });
    new Counter({
      name: 'mesh_apim_throttle_sync_fallback_decisions_total',
      help: 'Quota levels decided on the fallback share (limit / expected instances) instead of the cluster-wide count',
      registers,
      collect() {
        this.reset();
        this.inc(leases.fallbackDecisions);
      },
    });
    new Gauge({
      name: 'mesh_apim_throttle_sync_fallback',
      help: '1 while quotas are enforced on the fallback share (broker unreachable or topic not read yet), else 0',
      registers,
      collect() {
        this.set(leases.mode(clock.now()) === 'synced' ? 0 : 1);
      },
    });
    new Gauge({
      name: 'mesh_apim_throttle_sync_instances',
      help: 'Adapter instances sharing quotas, this one included (live: reported within the lease timeout)',
      registers,
      collect() {
        this.set(leases.status(clock.now()).instances);
      },
    });
    new Gauge({
      name: 'mesh_apim_throttle_sync_counters',
      help: 'Throttle counters of this instance leased from the cluster-wide budget',
      registers,
      collect() {
        this.set(leases.status(clock.now()).sharedCounters);
      },
    });
  }

  status(): LeaseStatus {
    return this.leases.status(this.o.clock.now());
  }

  /**
   * Starts reporting and reads the topic from its start (running windows); waits for the catch-up
   * up to catchUpTimeoutMs. A bus that cannot be reached is retried in the background: the fallback
   * share applies meanwhile, the adapter starts anyway.
   */
  async start(): Promise<void> {
    this.leases.start(this.o.clock.now());
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
    void this.tick();
    let timeout: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      this.connect(),
      new Promise<boolean>((resolve) => {
        timeout = setTimeout(() => resolve(false), this.o.catchUpTimeoutMs);
      }),
    ]);
    clearTimeout(timeout);
    if (!waited)
      this.log.warn(
        { topic: this.topic },
        'throttle topic not read up to its end yet: fallback quotas apply',
      );
  }

  /** Resolves true once caught up (retrying until stopped), false when stopped first. */
  private async connect(): Promise<boolean> {
    while (!this.stopped) {
      try {
        await this.subscribe();
        return true;
      } catch (err) {
        this.leases.publishFailed(err instanceof Error ? err.message : String(err));
        this.log.warn({ err }, 'cannot read the throttle topic; retrying (fallback quotas apply)');
        await new Promise((resolve) => setTimeout(resolve, this.o.leaseTimeoutMs).unref());
      }
    }
    return false;
  }

  private async subscribe(): Promise<void> {
    const { bus, clock } = this.o;
    await bus.ensureTopics(topicSpecs(this.o.topicPrefix).filter((t) => t.name === this.topic));
    const ends = await bus.endOffsets(this.topic);
    const pending = new Map(ends.filter((e) => e.offset !== '0').map((e) => [e.partition, BigInt(e.offset)]));
    let caughtUp!: () => void;
    const done = new Promise<void>((resolve) => {
      caughtUp = resolve;
    });
    const check = () => {
      if (pending.size === 0) {
        this.leases.markCaughtUp();
        caughtUp();
      }
    };
    check();
    this.subscription = await bus.consume({
      // Every instance reads every report: a group of its own (never shared), from the oldest record.
      groupId: `mesh-apim.throttle-sync.${this.o.instanceId}.${this.leases.self.split('~').pop()}`,
      topics: [this.topic],
      fromBeginning: true,
      maxBatchSize: 500,
      maxWaitMs: Math.max(20, Math.floor(this.o.intervalMs / 5)),
      handler: async (batch) => {
        const now = clock.now();
        for (const r of batch.records) {
          const parsed = r.value ? safeJson(r.value.toString('utf8')) : undefined;
          const report = ThrottleCounts.safeParse(parsed);
          if (report.success) this.leases.ingest(report.data, now);
          else this.badReports.inc();
        }
        const end = pending.get(batch.partition);
        const last = batch.records.at(-1);
        if (end !== undefined && last && BigInt(last.offset) + 1n >= end) {
          pending.delete(batch.partition);
          check();
        }
      },
    });
    if (this.stopped) await this.subscription.stop();
    await done;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const now = this.o.clock.now();
    this.watchMode(now);
    // One report at a time: while the bus holds one (broker down), the next waits; the lease timeout
    // puts this instance in fallback meanwhile.
    if (this.inFlight) return;
    this.inFlight = true;
    const report = this.leases.tick(now);
    try {
      await publish(this.o.bus, { contract: TOPICS.throttle, name: this.topic }, [report], {
        timestamp: now,
      });
      this.leases.published(this.o.clock.now());
    } catch (err) {
      this.publishErrors.inc();
      this.leases.publishFailed(err instanceof Error ? err.message : String(err));
      // What was not taken is sent again in full with the next report.
      this.leases.resendAll();
    } finally {
      this.inFlight = false;
    }
  }

  private watchMode(now: number): void {
    const mode = this.leases.mode(now);
    if (mode === this.lastMode) return;
    const first = this.lastMode === null || (this.lastMode === 'catching-up' && !this.faulted);
    if (mode !== 'synced') {
      // Every start reads the topic first: catching up then is not a fault.
      if (!(first && mode === 'catching-up')) {
        this.faulted = true;
        this.fallbackEntered.inc({ reason: mode });
        this.log.warn(
          { mode, status: this.leases.status(now) },
          'quotas fall back to limit / expected instances',
        );
      }
    } else if (!first) this.log.info('quotas are shared across instances again');
    this.lastMode = mode;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.subscription?.stop();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
