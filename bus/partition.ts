/** Kafka's default partitioner for keyed records (murmur2, positive, modulo), so keys land alike on every bus. */
export function murmur2(data: Buffer): number {
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  const length = data.length;
  let h = seed ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = length % 4;
  const idx = length & ~3;
  if (rest === 3) h ^= data[idx + 2]! << 16;
  if (rest >= 2) h ^= data[idx + 1]! << 8;
  if (rest >= 1) {
    h ^= data[idx]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h;
}

let roundRobin = 0;

/** partitionFor() of a key already in bytes (the embedded log's writer gets keys encoded). */
export function partitionOfBytes(key: Buffer | null, partitions: number): number {
  if (partitions <= 1) return 0;
  if (key === null) {
    roundRobin = (roundRobin + 1) % partitions;
    return roundRobin;
  }
  return (murmur2(key) & 0x7fffffff) % partitions;
}

export function partitionFor(key: string | null, partitions: number): number {
  if (partitions <= 1) return 0;
  if (key === null) {
    roundRobin = (roundRobin + 1) % partitions;
    return roundRobin;
  }
  return (murmur2(Buffer.from(key)) & 0x7fffffff) % partitions;
}
