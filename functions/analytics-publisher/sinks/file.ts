/**
 * ELK log-file sink: appends WSO2's `apimMetrics:` lines to `<dir>/<name>.log` (default
 * `<dataDir>/analytics/apim_metrics.log`, WSO2's file name), rotated by size to `.1` ... `.<maxFiles>`
 * (log4j DefaultRolloverStrategy naming), one write (+ fsync) per batch.
 *
 * Duplicates. A file cannot be overwritten by id, so:
 * - live: a bounded window of recently written event ids (dedupKey: the event id, kept in each line's MDC slot) (seeded at open from the tail of the
 *   current file) drops redeliveries — batch retries and restarts after a crash before commit;
 * - replay: writes to its own file named by the range (`apim_metrics.replay-<from>_<to>.log`),
 *   truncated when the replay starts, so replaying a range twice leaves one copy of it. The replay
 *   file is for filling gaps the live file does not cover (sink down, a new ELK stack); if both are
 *   shipped for the same range, make Logstash use the line's event id (MDC slot) as document_id (as the HTTP sink does).
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { SinkUnavailableError } from '../errors.ts';
import { elkLineWith, elkPrefix, parseElkLine } from './elk-line.ts';
import { type AnalyticsSink, dedupKey, type SinkItem, type SinkItemResult } from './types.ts';

export interface FileSinkOptions {
  dir: string;
  /** Base name without `.log`. */
  name?: string;
  maxBytes: number;
  maxFiles: number;
  fsync: boolean;
  /** Event ids (dedupKey) remembered for dedup (0 = no dedup). */
  dedupWindow: number;
  /** Truncate the file at open (replay files). */
  truncate?: boolean;
  now?: () => Date;
}

const OK_RESULT: SinkItemResult = Object.freeze({ ok: true });
const okResult = (): SinkItemResult => OK_RESULT;

/** The encode buffer is kept between batches up to this size (a bigger batch allocates its own). */
const SCRATCH_KEEP_BYTES = 4 * 1024 * 1024;

const SEED_TAIL_BYTES = 8 * 1024 * 1024;

export class FileSink implements AnalyticsSink {
  readonly name = 'file';
  readonly file: string;
  private fd: number | null = null;
  private size = 0;
  private readonly recent = new Set<string>();
  /** Insertion order of `recent` as a ring: evicting the oldest costs no iterator per record. */
  private ring: (string | undefined)[] = [];
  private ringAt = 0;
  private scratch: Buffer = Buffer.allocUnsafe(256 * 1024);
  private readonly o: Required<Omit<FileSinkOptions, 'now'>> & { now: () => Date };

  constructor(options: FileSinkOptions) {
    this.o = { name: 'apim_metrics', truncate: false, now: () => new Date(), ...options };
    this.file = path.join(this.o.dir, `${this.o.name}.log`);
  }

  private open(): number {
    if (this.fd !== null) return this.fd;
    mkdirSync(this.o.dir, { recursive: true });
    if (this.o.truncate) rmSync(this.file, { force: true });
    else this.seed();
    this.fd = openSync(this.file, 'a');
    this.size = statSync(this.file).size;
    return this.fd;
  }

  /** Remember the event ids at the end of the current file: a restart must not re-append them. */
  private seed(): void {
    if (this.o.dedupWindow <= 0 || !existsSync(this.file)) return;
    const size = statSync(this.file).size;
    const len = Math.min(size, SEED_TAIL_BYTES);
    const buf = Buffer.alloc(len);
    const fd = openSync(this.file, 'r');
    try {
      readSync(fd, buf, 0, len, size - len);
    } finally {
      closeSync(fd);
    }
    const lines = buf.toString('utf8').split('\n');
    if (len < size) lines.shift(); // partial first line
    for (const l of lines) {
      const id = parseElkLine(l)?.id;
      if (id) this.remember(id);
    }
  }

  /** Ids are only remembered once (write and seed skip known ones), so the window is FIFO. */
  private remember(id: string): void {
    const max = this.o.dedupWindow;
    if (max <= 0 || this.recent.has(id)) return;
    if (this.ring.length < max) this.ring.push(id);
    else {
      const old = this.ring[this.ringAt];
      if (old !== undefined) this.recent.delete(old);
      this.ring[this.ringAt] = id;
      this.ringAt = (this.ringAt + 1) % max;
    }
    this.recent.add(id);
  }

  private rotate(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    for (let i = this.o.maxFiles - 1; i >= 1; i--) {
      const from = `${this.file}.${i}`;
      if (existsSync(from)) renameSync(from, `${this.file}.${i + 1}`);
    }
    if (this.o.maxFiles >= 1) renameSync(this.file, `${this.file}.1`);
    else rmSync(this.file, { force: true });
    this.fd = openSync(this.file, 'a');
    this.size = 0;
  }

  async write(items: readonly SinkItem[]): Promise<SinkItemResult[]> {
    await this.append(
      items.length,
      (i) => dedupKey(items[i]!),
      (prefix, i) => elkLineWith(prefix, items[i]!),
    );
    return items.map(okResult);
  }

  /**
   * write() of lines rendered on another thread (replay workers): `bodies[i]` is
   * elkLineWith('', item) of the item whose dedupKey is `ids[i]`; the line is this batch's prefix
   * (this sink's clock) + the body, with write()'s dedup, rotation and fsync.
   */
  async writeRendered(ids: readonly string[], bodies: readonly string[]): Promise<void> {
    await this.append(
      ids.length,
      (i) => ids[i]!,
      (prefix, i) => prefix + bodies[i]!,
    );
  }

  private async append(
    n: number,
    idOf: (i: number) => string,
    lineOf: (prefix: string, i: number) => string,
  ): Promise<void> {
    try {
      const fd = this.open();
      const prefix = elkPrefix(this.o.now());
      const batchIds = new Set<string>();
      // Lines are encoded one by one into a reused buffer: no batch-sized rope to flatten and
      // encode, no batch-sized allocation per write. A UTF-16 unit is at most 3 UTF-8 bytes.
      let buf = this.scratch;
      let len = 0;
      for (let i = 0; i < n; i++) {
        const id = idOf(i);
        if (this.recent.has(id) || batchIds.has(id)) continue; // already written: idempotent no-op
        batchIds.add(id);
        const line = lineOf(prefix, i);
        if (len + line.length * 3 > buf.length) {
          const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, len + line.length * 3));
          buf.copy(bigger, 0, 0, len);
          buf = bigger;
        }
        len += buf.write(line, len, 'utf8');
      }
      if (buf.length <= SCRATCH_KEEP_BYTES) this.scratch = buf;
      if (len > 0) {
        if (this.size > 0 && this.size + len > this.o.maxBytes) this.rotate();
        const out = this.fd ?? fd;
        for (let at = 0; at < len; ) at += writeSync(out, buf, at, len - at);
        if (this.o.fsync) fsyncSync(out);
        this.size += len;
        for (const id of batchIds) this.remember(id);
      }
    } catch (err) {
      throw new SinkUnavailableError('file', `cannot write ${this.file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** The replay file name for a range: one file per range, rewritten by a replay of the same range. */
export function replayFileName(fromIso: string, toIso: string): string {
  const compact = (s: string) =>
    new Date(s)
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
  return `apim_metrics.replay-${compact(fromIso)}_${compact(toIso)}`;
}
