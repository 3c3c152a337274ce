/**
 * Where the meter state lives between invocations. Two homes, neither new: a file in the data dir
 * (local runner; write, fsync, rename; locked against a second runner on the same file) and a
 * compacted Kafka topic (Lambda: the changelog pattern; the bus the stack already has). Both are
 * written after every batch, before the handler returns, so before the bus/Lambda commits the batch:
 * a crash before the write redelivers the batch onto the previous state (counted once), after it the
 * redelivery is a duplicate.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { publish } from '../../bus/publish.ts';
import type { Bus } from '../../bus/types.ts';
import { TOPICS } from '../../events/topics.ts';
import { UsageMeterState } from '../../events/usage-meter-state.ts';
import { UsageStateLockedError } from './errors.ts';
import type { MeterState } from './meter.ts';

export interface MeterStateStore {
  readonly describe: string;
  load(): Promise<MeterState | null>;
  save(state: MeterState): Promise<void>;
  /** Someone else wrote the store since this process last loaded or saved it (reload before use). */
  changed(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * <dataDir>/usage/meter-state[-<runner>].json with a lock file beside it: `<file>.lock` holds the
 * owner's host, pid and a token. A lock whose process is gone (same host, pid not alive) is stale and
 * taken over, so a SIGKILLed runner does not block its restart; a live owner makes the second runner
 * fail at start with a clear error instead of both overwriting one file.
 */
export class FileStateStore implements MeterStateStore {
  readonly describe: string;
  private readonly lockFile: string;
  private readonly token = randomUUID();
  private locked = false;

  constructor(private readonly file: string) {
    this.describe = file;
    this.lockFile = `${file}.lock`;
  }

  /** Takes the lock (throws UsageStateLockedError when a live process holds it). */
  lock(): this {
    mkdirSync(dirname(this.file), { recursive: true });
    const mine = JSON.stringify({ host: hostname(), pid: process.pid, token: this.token });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockFile, 'wx');
        try {
          writeSync(fd, mine);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        this.locked = true;
        return this;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner: { host?: string; pid?: number; token?: string } = {};
      try {
        owner = JSON.parse(readFileSync(this.lockFile, 'utf8'));
      } catch {
        // Unreadable or half-written: only a crash between open and write leaves that; treat as stale.
      }
      if (owner.pid !== undefined && (owner.host !== hostname() || alive(owner.pid)))
        throw new UsageStateLockedError(this.file, owner);
      try {
        unlinkSync(this.lockFile);
      } catch {
        // Someone else removed it first: retry the exclusive create.
      }
    }
    throw new UsageStateLockedError(this.file, {});
  }

  async load(): Promise<MeterState | null> {
    if (!existsSync(this.file)) return null;
    return JSON.parse(readFileSync(this.file, 'utf8')) as MeterState;
  }

  async save(state: MeterState): Promise<void> {
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  async changed(): Promise<boolean> {
    return false; // The lock makes this process the only writer.
  }

  async close(): Promise<void> {
    if (!this.locked) return;
    this.locked = false;
    try {
      const owner = JSON.parse(readFileSync(this.lockFile, 'utf8')) as { token?: string };
      if (owner.token === this.token) unlinkSync(this.lockFile);
    } catch {
      // Already gone.
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How far back load() looks for this consumer's record when others wrote after it. */
const SCAN_CHUNK = 50;

/**
 * The compacted topic mesh-apim.usage-meter-state.v1, key = consumer, one partition. load() reads the
 * last record of the consumer from the end backwards (compaction keeps it; before compaction the
 * newest is at the end). changed() compares the last record's eventId with the one this process
 * wrote or read: a second container (a recycled one, the schedule invocation) that wrote in between
 * makes this one reload instead of overwriting newer state with its older memory.
 */
export class TopicStateStore implements MeterStateStore {
  readonly describe: string;
  private lastEventId: string | null = null;

  constructor(
    private readonly bus: Pick<Bus, 'produce' | 'read' | 'endOffsets'>,
    private readonly topic: string,
    private readonly consumer: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.describe = `${topic} (key ${consumer})`;
  }

  private async latest(): Promise<UsageMeterState | null> {
    const ends = await this.bus.endOffsets(this.topic);
    const end = BigInt(ends.find((e) => e.partition === 0)?.offset ?? '0');
    for (let hi = end; hi > 0n; ) {
      const lo = hi > BigInt(SCAN_CHUNK) ? hi - BigInt(SCAN_CHUNK) : 0n;
      const recs = await this.bus.read(this.topic, 0, String(lo), Number(hi - lo));
      for (let i = recs.length - 1; i >= 0; i--) {
        const r = recs[i]!;
        if (r.key?.toString() !== this.consumer || !r.value) continue;
        return UsageMeterState.parse(JSON.parse(r.value.toString('utf8')));
      }
      // read() starts at the log start when lo is below it: nothing older is left.
      if (recs.length === 0 || BigInt(recs[0]!.offset) > lo) break;
      hi = lo;
    }
    return null;
  }

  async load(): Promise<MeterState | null> {
    const rec = await this.latest();
    this.lastEventId = rec?.eventId ?? null;
    if (!rec) return null;
    return JSON.parse(gunzipSync(Buffer.from(rec.state, 'base64')).toString('utf8')) as MeterState;
  }

  async save(state: MeterState): Promise<void> {
    const json = JSON.stringify(state);
    const at = this.now();
    const rec: UsageMeterState = {
      type: 'usage-meter-state',
      schemaVersion: 1,
      eventId: `usage-meter-state:${this.consumer}:${at.getTime()}:${randomUUID().slice(0, 8)}`,
      occurredAt: at.toISOString(),
      consumer: this.consumer,
      savedAt: at.toISOString(),
      encoding: 'gzip+base64',
      state: gzipSync(json).toString('base64'),
      bytes: Buffer.byteLength(json),
    };
    // Keyed by the consumer (the contract's key): compaction keeps each consumer's latest state.
    await publish(this.bus, { contract: TOPICS.usageMeterState, name: this.topic }, [rec]);
    this.lastEventId = rec.eventId;
  }

  async changed(): Promise<boolean> {
    const rec = await this.latest();
    return (rec?.eventId ?? null) !== this.lastEventId;
  }

  async close(): Promise<void> {}
}
