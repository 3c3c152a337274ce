/**
 * Check-path caches: the hand-written maps vs lru-cache, hits only (what a steady check sees), side by
 * side in one run, CPU time per lookup. The decision it backs is in docs/decisions.md ("Bounded caches
 * on the check path").
 *   node --import tsx bench/caches.bench.ts [lookups per round] [rounds]   (also: npm run bench -- parts)
 * - pieces: the http2 check codec's pre-encoded pieces (adapter/transport/http2/check-codec.ts
 *   PieceCache): nested Maps keyed by the snapshot's own string objects, vs one LRUCache whose key has
 *   to be built per lookup (field, name and value joined);
 * - denies: whole deny responses by a string key (check-codec DenyCache): Map vs LRUCache;
 * - blocklists: restrictions.ts's parsed permittedIP lists by their joined entries: Map vs LRUCache.
 */
import { loadavg } from 'node:os';
import { cpuUsage } from 'node:process';
import { LRUCache } from 'lru-cache';
import { benchArgs } from './lib/args.ts';
import { median } from './lib/stats.ts';

const { positionals } = benchArgs({
  usage: 'node --import tsx bench/caches.bench.ts [lookups per round, default 2000000] [rounds, default 7]',
  positionals: true,
  options: {},
});
const N = Number(positionals[0] ?? 2_000_000);
const ROUNDS = Number(positionals[1] ?? 7);

/** Strings as a snapshot holds them: built once, then the same objects on every call. */
const names = Array.from({ length: 12 }, (_, i) => `x-apim-identity-header-${i}`);
const values = Array.from({ length: 40 }, (_, i) => `application-${i}-${'v'.repeat(i % 7)}`);
const fields = [1, 2, 3];
const piece = (s: string) => Buffer.from(s);

function nestedPieces() {
  const byField = new Map<number, Map<string, Map<string, Buffer>>>();
  return (field: number, name: string, value: string): Buffer => {
    let ns = byField.get(field);
    if (!ns) {
      ns = new Map();
      byField.set(field, ns);
    }
    let vs = ns.get(name);
    if (!vs) {
      vs = new Map();
      ns.set(name, vs);
    }
    let b = vs.get(value);
    if (b === undefined) {
      b = piece(value);
      vs.set(value, b);
    }
    return b;
  };
}

function lruPieces() {
  const cache = new LRUCache<string, Buffer>({ max: 16_384 });
  return (field: number, name: string, value: string): Buffer => {
    const key = `${field}\u0000${name}\u0000${value}`;
    let b = cache.get(key);
    if (b === undefined) {
      b = piece(value);
      cache.set(key, b);
    }
    return b;
  };
}

function mapByKey() {
  const map = new Map<string, Buffer>();
  return (key: string): Buffer => {
    let b = map.get(key);
    if (b === undefined) {
      b = piece(key);
      map.set(key, b);
    }
    return b;
  };
}

function lruByKey(max: number) {
  const cache = new LRUCache<string, Buffer>({ max });
  return (key: string): Buffer => {
    let b = cache.get(key);
    if (b === undefined) {
      b = piece(key);
      cache.set(key, b);
    }
    return b;
  };
}

const denyKeys = Array.from({ length: 64 }, (_, i) => `401|900902|Missing Credentials|${i}`);
const ipLists = Array.from({ length: 32 }, (_, i) => [`10.${i}.0.0/16`, `192.168.${i}.1`, '2001:db8::/32']);

type Run = () => number;
const cases: Record<string, Record<string, Run>> = {
  pieces: (() => {
    const [a, b] = [nestedPieces(), lruPieces()];
    const run = (get: typeof a) => () => {
      let n = 0;
      for (let i = 0; i < N; i++) n += get(fields[i % 3]!, names[i % 12]!, values[i % 40]!).length;
      return n;
    };
    return { 'nested Map': run(a), LRUCache: run(b) };
  })(),
  denies: (() => {
    const [a, b] = [mapByKey(), lruByKey(4096)];
    const run = (get: typeof a) => () => {
      let n = 0;
      for (let i = 0; i < N; i++) n += get(denyKeys[i % 64]!).length;
      return n;
    };
    return { Map: run(a), LRUCache: run(b) };
  })(),
  blocklists: (() => {
    const [a, b] = [mapByKey(), lruByKey(1000)];
    // The key is joined per call in both (restrictions.ts blockListOf does so today).
    const run = (get: typeof a) => () => {
      let n = 0;
      for (let i = 0; i < N; i++) n += get(ipLists[i % 32]!.join(',')).length;
      return n;
    };
    return { Map: run(a), LRUCache: run(b) };
  })(),
};

function cpuNsPerOp(run: Run): number {
  const t0 = cpuUsage();
  const sink = run();
  const d = cpuUsage(t0);
  if (sink === 0) throw new Error('nothing looked up');
  return ((d.user + d.system) * 1000) / N;
}

process.stdout.write(
  `caches: ${N} lookups per round, ${ROUNDS} rounds, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
for (const [name, variants] of Object.entries(cases)) {
  const entries = Object.entries(variants);
  for (const [, run] of entries) run(); // warm-up: every entry present, code optimised
  const ns = new Map<string, number[]>(entries.map(([v]) => [v, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order so neither variant always runs on a warmer (or busier) machine.
    const order = r % 2 ? [...entries].reverse() : entries;
    for (const [v, run] of order) ns.get(v)!.push(cpuNsPerOp(run));
  }
  const [[baseName], [otherName]] = entries as [[string, Run], [string, Run]];
  const base = median(ns.get(baseName)!);
  const other = median(ns.get(otherName)!);
  const ratios = ns.get(otherName)!.map((x, i) => x / ns.get(baseName)![i]!);
  process.stdout.write(
    `  ${name.padEnd(10)} ${baseName} ${base.toFixed(1)} ns, ${otherName} ${other.toFixed(1)} ns CPU per lookup: ` +
      `${otherName}/${baseName} ${median(ratios).toFixed(2)}x (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})\n`,
  );
}
