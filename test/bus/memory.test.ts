import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../bus/memory.ts';
import type { Subscription } from '../../bus/types.ts';
import { waitFor } from './conformance.ts';

describe('memory bus (the test double)', () => {
  const subs: Subscription[] = [];
  afterEach(async () => {
    for (const s of subs.splice(0)) await s.stop();
  });

  it('a failing handler gets the same batch again, and nothing is committed until it succeeds', async () => {
    const bus = new MemoryBus();
    await bus.produce('t', [
      { key: 'k', value: 'a' },
      { key: 'k', value: 'b' },
    ]);
    const firsts: string[] = [];
    const ok: string[] = [];
    let calls = 0;
    const sub = await bus.consume({
      groupId: 'g',
      topics: ['t'],
      handler: async (b) => {
        calls++;
        firsts.push(b.records[0]!.offset);
        if (calls <= 3) throw new Error('not yet');
        ok.push(...b.records.map((r) => r.value!.toString()));
      },
    });
    await waitFor('delivery after three failures', () => ok.length === 2, 5000);
    await sub.stop();
    expect(firsts.slice(0, 4)).toEqual(['0', '0', '0', '0']);
    expect(ok).toEqual(['a', 'b']);
    // Committed: the same group resumes after the batch.
    await bus.produce('t', [{ key: 'k', value: 'c' }]);
    const next: string[] = [];
    subs.push(
      await bus.consume({
        groupId: 'g',
        topics: ['t'],
        handler: async (b) => void next.push(...b.records.map((r) => r.value!.toString())),
      }),
    );
    await waitFor('c', () => next.length === 1, 5000);
    await sleep(50);
    expect(next).toEqual(['c']);
  });
});
