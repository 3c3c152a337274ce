import { describe, expect, it } from 'vitest';
import { lenField, NameCache, Reader } from '../../../../adapter/transport/http2/wire.ts';

function readNames(names: NameCache, ...values: (string | Buffer)[]): string[] {
  const buf = Buffer.concat(values.map((v) => lenField(1, v)));
  const r = new Reader(buf);
  const out: string[] = [];
  while (r.pos < r.end) {
    r.uint32();
    out.push(r.name(names));
  }
  return out;
}

describe('Reader.name', () => {
  it('reads what string() reads, the same string object for the same bytes', () => {
    const names = new NameCache(16);
    const [a, b] = readNames(names, 'user-agent', 'user-agent');
    expect(a).toBe('user-agent');
    expect(b).toBe(a);
    expect(names.map.size).toBe(1);
  });

  it('tells apart names whose hashes collide', () => {
    // "Aa" and "BB" have the same 31-polynomial hash (and length).
    const names = new NameCache(16);
    expect(readNames(names, 'Aa', 'BB', 'Aa', 'BB')).toEqual(['Aa', 'BB', 'Aa', 'BB']);
  });

  it('reads non-ASCII and long names without caching them', () => {
    const names = new NameCache(16);
    const long = 'x'.repeat(65);
    expect(readNames(names, 'ünïcode', long, Buffer.from([0xff, 0x61]))).toEqual([
      'ünïcode',
      long,
      Buffer.from([0xff, 0x61]).toString('utf8'),
    ]);
    expect(names.map.size).toBe(0);
  });

  it('stays bounded', () => {
    const names = new NameCache(4);
    const all = Array.from({ length: 10 }, (_, i) => `h${i}`);
    expect(readNames(names, ...all)).toEqual(all);
    expect(names.map.size).toBeLessThanOrEqual(4);
  });
});
