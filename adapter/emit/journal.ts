/**
 * The emitter's write-ahead journal: every event handed to emit() is written to
 * `<dataDir>/spool/journal-<generation>.wal` before control returns to the event loop, so an event
 * whose check was answered is in the kernel's page cache before the answer leaves the process
 * (grpc-js and node:http2 write responses to the socket from a later phase of the loop). A SIGKILL
 * therefore loses ~nothing: the next start puts what the journal holds beyond its cursor (events not
 * yet on the bus or in the spool) in the spool, ahead of new events. Not fsynced: it covers process
 * death, not power loss (the bus's fsync setting and the spool cover that once the event got there).
 *
 * Cost on the loop: one write(2) per turn for all events of that turn (page cache, no fsync): the
 * same order of cost as the socket write of one response. Records use the spool's format (spool.ts:
 * length-prefixed, crc32-checked), so a torn tail is detected and cut on recovery.
 *
 * Coverage: the emitter hands events on in order; cover(position) says everything up to there is on
 * the bus or in the spool. Files wholly covered are deleted; the cursor (generation, records) is
 * written in place right after each covered batch, with one small positional write(2) and no await
 * in between, so a SIGKILL almost never lands between "spooled" and "cursor moved" (if it does, or
 * on power loss, the batch is delivered twice: never skipped; consumers dedupe on eventId).
 */
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../common/log.ts';
import { decodeRecords, encodedSize, encodeRecordInto, maxEncodedSize, type SpoolRecord } from './spool.ts';

export interface JournalPosition {
  generation: number;
  /** Records of that generation up to and including this one. */
  records: number;
}

const FILE = /^journal-(\d+)\.wal$/;
const fileName = (g: number) => `journal-${g}.wal`;
const CURSOR_BYTES = 64;
const SLAB_BYTES = 256 * 1024;

export class Journal {
  private fd: number | null = null;
  private gen = 0;
  private count = 0;
  private bytes = 0;
  /** This turn's records, encoded in place; reused after each write (no allocation per event). */
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private used = 0;
  private scheduled = false;
  private failed = false;
  private cursorFd: number | null = null;
  /** Generations with a file on disk, oldest first. */
  private live: number[] = [];
  private readonly cursorPath: string;

  constructor(
    private readonly dir: string,
    private readonly o: { maxFileBytes: number; logger: Logger },
  ) {
    this.cursorPath = join(dir, 'journal.cursor.json');
  }

  private generations(): number[] {
    return readdirSync(this.dir)
      .map((f) => FILE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  /**
   * What a previous process journaled beyond its cursor, in order (a torn tail is cut). Call once,
   * before append(); put the result in the spool, then call reset().
   */
  recover(): SpoolRecord[] {
    let cursor: JournalPosition = { generation: -1, records: 0 };
    try {
      const c = JSON.parse(readFileSync(this.cursorPath, 'utf8').trim()) as JournalPosition;
      if (Number.isInteger(c.generation) && Number.isInteger(c.records)) cursor = c;
    } catch {
      // no cursor: nothing was covered
    }
    const out: SpoolRecord[] = [];
    this.live = this.generations();
    for (const g of this.live) {
      this.gen = Math.max(this.gen, g + 1);
      if (g < cursor.generation) continue;
      const { records } = decodeRecords(readFileSync(join(this.dir, fileName(g))));
      out.push(...(g === cursor.generation ? records.slice(cursor.records) : records));
    }
    return out;
  }

  /** Removes every journal file and the cursor (after recover()'s records are safe in the spool, or on a clean stop). */
  reset(): void {
    this.closeFile();
    for (const g of this.generations()) rmSync(join(this.dir, fileName(g)), { force: true });
    if (this.cursorFd !== null) closeSync(this.cursorFd);
    this.cursorFd = null;
    rmSync(this.cursorPath, { force: true });
    this.live = [];
    this.count = 0;
    this.bytes = 0;
  }

  /** The position of the last record appended: its generation (file) ... */
  get generation(): number {
    return this.gen;
  }

  /** ... and the records of that generation up to and including it. */
  get records(): number {
    return this.count;
  }

  /**
   * Journals one record (written at the end of this turn); its position is `generation` and
   * `records` right after (read as two numbers: no object per event).
   */
  append(record: SpoolRecord): void {
    if (this.fd === null || this.bytes >= this.o.maxFileBytes) this.roll();
    // The strings are measured only when the bound says they may not fit (rarely: the slab is far
    // larger than an event); encoding returns the exact size.
    if (this.used + maxEncodedSize(record) > this.slab.length) {
      const size = encodedSize(record);
      if (this.used + size > this.slab.length) {
        // Full: write what this turn has so far (still before the turn's answers leave).
        this.flush();
        if (size > this.slab.length) this.slab = Buffer.allocUnsafeSlow(size);
      }
    }
    const at = this.used;
    this.used = encodeRecordInto(record, this.slab, at);
    this.bytes += this.used - at;
    this.count += 1;
    if (!this.scheduled) {
      this.scheduled = true;
      // A microtask: before the loop moves on, so before the response of this turn's checks is sent.
      queueMicrotask(this.flushTurn);
    }
  }

  private readonly flushTurn = (): void => this.flush();

  /** Writes what this turn journaled (one write call). */
  flush(): void {
    this.scheduled = false;
    if (this.used === 0 || this.fd === null) return;
    const used = this.used;
    this.used = 0;
    if (this.failed) return;
    try {
      let o = 0;
      while (o < used) o += writeSync(this.fd, this.slab, o, used - o);
    } catch (err) {
      // Disk full or similar: emission goes on (memory + spool); only the SIGKILL window widens.
      this.failed = true;
      this.o.logger.error({ err }, 'emitter journal write failed; journaling off until restart');
    }
    if (this.slab.length > SLAB_BYTES) this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  }

  /** Everything up to `pos` is on the bus or in the spool: delete older files, persist the cursor. */
  cover(pos: JournalPosition): void {
    // Deleting a file of several MiB takes tens of ms in the kernel: off the loop (threadpool).
    while (this.live.length > 0 && this.live[0]! < pos.generation) {
      const path = join(this.dir, fileName(this.live.shift()!));
      rm(path, { force: true }).catch((err: unknown) =>
        this.o.logger.warn({ err, path }, 'covered journal file not deleted (removed at the next start)'),
      );
    }
    try {
      this.cursorFd ??= openSync(this.cursorPath, 'w');
      // Fixed width, overwritten in place: never a shorter body followed by stale bytes.
      writeSync(this.cursorFd, JSON.stringify(pos).padEnd(CURSOR_BYTES), 0);
    } catch (err) {
      this.o.logger.warn({ err }, 'journal cursor write failed (a restart re-delivers more)');
    }
  }

  private roll(): void {
    this.flush();
    this.closeFile();
    this.gen += 1;
    this.count = 0;
    this.bytes = 0;
    this.fd = openSync(join(this.dir, fileName(this.gen)), 'a');
    this.live.push(this.gen);
  }

  private closeFile(): void {
    if (this.fd !== null) {
      this.flush();
      closeSync(this.fd);
    }
    this.fd = null;
  }

  /** Clean stop: everything was flushed or spooled, so the journal holds nothing to recover. */
  async close(): Promise<void> {
    this.reset();
  }
}
