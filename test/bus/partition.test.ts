import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur2, partitionFor } from '../../bus/partition.ts';

// kafkajs's Java-compatible murmur2: keys must land on the partition Kafka's own producers choose.
const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  k: Buffer,
) => number;

describe('partitionFor', () => {
  it('murmur2 equals the Java client hash (via kafkajs) for any key', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (key) => {
        expect(murmur2(Buffer.from(key))).toBe(kafkajsMurmur2(Buffer.from(key)));
      }),
      { numRuns: 500 },
    );
  });

  it('a keyed record always maps to the same partition within range', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 64 }), (key, n) => {
        const p = partitionFor(key, n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
        expect(partitionFor(key, n)).toBe(p);
      }),
    );
  });

  it('records without a key spread over all partitions', () => {
    const seen = new Set(Array.from({ length: 12 }, () => partitionFor(null, 4)));
    expect(seen).toEqual(new Set([0, 1, 2, 3]));
    expect(partitionFor(null, 1)).toBe(0);
  });
});
