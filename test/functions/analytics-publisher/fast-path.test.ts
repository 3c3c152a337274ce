import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import { toAnalyticsEvent } from '../../../functions/analytics-publisher/publisher.ts';
import { analyticsCases } from '../../../functions/analytics-publisher/samples.ts';
import { elkLineWith, elkPrefix } from '../../../functions/analytics-publisher/sinks/elk-line.ts';
import { validateRecord } from '../../../functions/lib/contracts.ts';
import { inRecordsFromValues } from '../../../functions/lib/kafka-event.ts';

// The handler path (ajv fast path, zod on rejection) against zod alone: same verdict, same reason, same line.
const cases = Object.values(analyticsCases());
const topic = TOPICS.requestAttributes.name;
const prefix = elkPrefix(new Date(Date.UTC(2026, 10, 26, 4, 0, 0, 123)));

type Json = Record<string, unknown>;
const get = (v: Json, p: string[]): unknown =>
  p.reduce<unknown>((c, k) => (c && typeof c === 'object' ? (c as Json)[k] : undefined), v);
function leafPaths(v: unknown, at: string[] = []): string[][] {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [at];
  return Object.entries(v).flatMap(([k, c]) => leafPaths(c, [...at, k]));
}
function set(v: Json, p: string[], value: unknown, drop: boolean): Json {
  const copy = structuredClone(v);
  let cur = copy;
  for (const k of p.slice(0, -1)) cur = cur[k] as Json;
  if (drop) delete cur[p.at(-1)!];
  else cur[p.at(-1)!] = value;
  return copy;
}

/** A mutation of the field's value that keeps, breaks, or pushes its type out of range. */
function mutant(old: unknown, pick: number): unknown {
  if (typeof old === 'number')
    return [old + 0.5, String(old), Number.MAX_SAFE_INTEGER + 2, -old, null][pick % 5];
  if (typeof old === 'string')
    return ['', 'x'.repeat(201), 42, old.toUpperCase(), `${old}\u2028"\\`, null][pick % 6];
  if (typeof old === 'boolean') return [!old, 'true', 0, null][pick % 4];
  return [{}, [], 'x', 0, undefined][pick % 5];
}

function viaZod(value: unknown): { ok: true; line: string } | { ok: false } {
  const z = RequestAttributes.safeParse(value);
  if (!z.success) return { ok: false };
  const a = toAnalyticsEvent(z.data);
  return { ok: true, line: 'skip' in a ? `skip ${a.skip}` : elkLineWith(prefix, a) };
}

function viaHandler(value: unknown): { ok: true; line: string } | { ok: false; message: string } {
  const [r] = inRecordsFromValues(topic, [value]);
  try {
    const a = toAnalyticsEvent(validateRecord(r!, RequestAttributes));
    return { ok: true, line: 'skip' in a ? `skip ${a.skip}` : elkLineWith(prefix, a) };
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
}

describe('analytics handler path: fast validation agrees with the full zod validator', () => {
  it('gives the same ELK line for every well-formed case', () => {
    for (const c of cases) expect(viaHandler(c), c.requestId).toEqual(viaZod(c));
  });

  it('agrees on accept/reject, the reason and the line for dropped, mistyped, out-of-range and extra fields (seeded)', () => {
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.nat(cases.length - 1),
        fc.nat(1000),
        fc.nat(30),
        fc.constantFrom('drop', 'mutate', 'extra'),
        (ci, pi, pick, how) => {
          const base = JSON.parse(JSON.stringify(cases[ci])) as Json;
          const all = leafPaths(base);
          const p = all[pi % all.length]!;
          const v =
            how === 'extra'
              ? set(base, [...p.slice(0, -1), 'surplus'], pick, false)
              : set(base, p, mutant(get(base, p), pick), how === 'drop');
          const wire = JSON.parse(JSON.stringify(v)) as unknown;
          const h = viaHandler(wire);
          const z = viaZod(wire);
          expect(h.ok).toBe(z.ok);
          if (h.ok && z.ok) expect(h.line).toBe(z.line);
          if (!h.ok) {
            rejected++;
            const issue = RequestAttributes.safeParse(wire).error!.issues[0]!;
            expect(h.message).toContain(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
          }
        },
      ),
      { numRuns: 2000, seed: 20 },
    );
    // The mutations must actually exercise the rejection path.
    expect(rejected).toBeGreaterThan(200);
  });
});
