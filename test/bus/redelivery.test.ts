import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BACKOFF_MAX_MS, BACKOFF_MIN_MS, Redelivery } from '../../bus/redelivery.ts';
import type { Batch } from '../../bus/types.ts';

const batch = (partition = 0): Batch => ({
  topic: 't',
  partition,
  records: [
    {
      topic: 't',
      partition,
      offset: '7',
      timestamp: 0,
      key: null,
      value: Buffer.from('v'),
      headers: {},
    },
  ],
});

describe('redelivery (the buses shared retry-the-batch rule)', () => {
  it('a rejected handler waits a doubling backoff capped at the maximum; a success starts it over', async () => {
    let failing = true;
    const seen: Batch[] = [];
    const r = new Redelivery(async (b) => {
      seen.push(b);
      if (failing) throw new Error('not yet');
    });
    const waits: number[] = [];
    const wait = async (ms: number) => void waits.push(ms);
    for (let i = 0; i < 8; i++) expect(await r.deliver('p0', batch(), wait)).toBe(false);
    expect(waits).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    expect([BACKOFF_MIN_MS, BACKOFF_MAX_MS]).toEqual([100, 5000]);
    // The same records every time: the handler is called with the batch it was given.
    expect(new Set(seen.map((b) => b.records[0]!.offset))).toEqual(new Set(['7']));
    failing = false;
    expect(await r.deliver('p0', batch(), wait)).toBe(true);
    expect(waits).toHaveLength(8);
    failing = true;
    await r.deliver('p0', batch(), wait);
    expect(waits.at(-1)).toBe(100);
  });

  it('keeps one backoff per key, and forget() starts a key over', async () => {
    const r = new Redelivery(
      async () => {
        throw new Error('no');
      },
      { minMs: 10, maxMs: 1000 },
    );
    const waits: [string, number][] = [];
    const waitFor = (k: string) => async (ms: number) => void waits.push([k, ms]);
    await r.deliver('a', batch(0), waitFor('a'));
    await r.deliver('a', batch(0), waitFor('a'));
    await r.deliver('b', batch(1), waitFor('b'));
    r.forget('a');
    await r.deliver('a', batch(0), waitFor('a'));
    expect(waits).toEqual([
      ['a', 10],
      ['a', 20],
      ['b', 10],
      ['a', 10],
    ]);
  });

  it('logs a rejection with where it happened and the wait', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const r = new Redelivery(
      async () => {
        throw new Error('boom');
      },
      { log },
    );
    await r.deliver('k', batch(3), async () => {});
    expect(lines[0]).toMatchObject({
      topic: 't',
      partition: 3,
      offset: '7',
      retryInMs: 100,
      msg: 'handler failed; batch will be delivered again',
    });
  });
});
