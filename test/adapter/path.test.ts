import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizePath } from '../../adapter/path.ts';
import { oraclePath } from '../support/fuzz.ts';

describe('normalizePath (Istio BASE: unreserved decoding, dot-segment removal)', () => {
  it.each([
    ['/petstore/v1/pets', '/petstore/v1/pets'],
    ['/a/./b', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/..', '/'],
    ['/../../a', '/a'],
    ['/petstore/v1/pets/../../../admin/v1/secret', '/admin/v1/secret'],
    ['/petstore/v1/%61dmin', '/petstore/v1/admin'],
    ['/petstore/v1/pets/%7Euser', '/petstore/v1/pets/~user'],
    ['/a/%c3%a4', '/a/%C3%A4'],
    ['/pets/', '/pets/'],
    ['*', '*'],
  ])('%s -> %s, unambiguous', (raw, normal) => {
    expect(normalizePath(raw)).toMatchObject({ path: normal, ambiguity: null });
  });

  it.each([
    ['/petstore/v1/pets/..%2f..%2f..%2fadmin%2fv1%2fsecret', 'ENCODED_SLASH'],
    ['/petstore/v1/pets%2F42', 'ENCODED_SLASH'],
    ['/a/%5c..%5cadmin', 'BACKSLASH'],
    ['/a\\..\\admin', 'BACKSLASH'],
    ['/petstore/v1/%2e%2e/admin', 'ENCODED_DOT_SEGMENT'],
    ['/petstore/v1/.%2E/admin', 'ENCODED_DOT_SEGMENT'],
    ['/petstore/v1/%2e', 'ENCODED_DOT_SEGMENT'],
    ['/files/v1/..;/..;/admin/v1/secret', 'PATH_PARAMETER'],
    ['/files/v1/x;jsessionid=1', 'PATH_PARAMETER'],
    ['/files/v1/x%3bjsessionid=1', 'PATH_PARAMETER'],
    ['/a/%252e%252e/admin', 'DOUBLE_ENCODING'],
    ['/a/%252f', 'DOUBLE_ENCODING'],
    ['/a/%zz', 'BAD_ENCODING'],
    ['/a/%4', 'BAD_ENCODING'],
    ['/a/%00', 'CONTROL_CHARACTER'],
    ['/a/\u0000b', 'CONTROL_CHARACTER'],
    ['/a/%0a', 'CONTROL_CHARACTER'],
    ['/petstore/v1//admin', 'EMPTY_SEGMENT'],
    ['//petstore/v1/pets', 'EMPTY_SEGMENT'],
  ])('%s stays ambiguous: %s', (raw, ambiguity) => {
    expect(normalizePath(raw).ambiguity).toBe(ambiguity);
  });

  it('reports the dot segments it removed', () => {
    expect(normalizePath('/a/../b').hadDotSegments).toBe(true);
    expect(normalizePath('/a/b').hadDotSegments).toBe(false);
  });

  // Parser fuzz on its own: total, idempotent, and its output never has a dot segment or decodes to one.
  it('fuzz: never throws, output is normal (idempotent, no dot segments), unambiguous input keeps no %2F', () => {
    const seg = fc.oneof(
      fc.constantFrom('.', '..', '%2e', '%2E%2e', '%2f', '%5c', ';', '%3b', '%25', '%252f', '%', '%g1', ''),
      fc.string({ maxLength: 6 }),
      fc.string({ unit: 'binary', maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 8 }), fc.constantFrom('/', '\\'), (segs, sep) => {
        const raw = `/${segs.join(sep)}`;
        const n = normalizePath(raw);
        expect(n.path.startsWith('/')).toBe(true);
        expect(normalizePath(n.path).path).toBe(n.path);
        for (const s of n.path.split('/')) expect(s === '.' || s === '..').toBe(false);
        if (n.ambiguity === null) {
          expect(n.path).not.toMatch(/%(2f|5c|3b|2e)|%25[0-9a-f]{2}/i);
          // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
          expect(n.path).not.toMatch(/[\\;]|\/\/|\u0000/);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: agrees with the independent oracle (RFC 3986 5.2.4 as written) on path and ambiguity', () => {
    const seg = fc.oneof(
      fc.constantFrom(
        '.',
        '..',
        '%2e',
        '.%2E',
        '%2f',
        '%5C',
        ';',
        '%3B',
        '%25',
        '%2541',
        '%',
        '%0a',
        '',
        'a',
        '%61',
      ),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 8 }), (segs) => {
        const raw = `/${segs.join('/')}`;
        const mine = normalizePath(raw);
        const theirs = oraclePath(raw);
        expect({ raw, ambiguous: mine.ambiguity !== null }).toEqual({ raw, ambiguous: theirs.ambiguous });
        expect({ raw, path: mine.path }).toEqual({ raw, path: theirs.path });
      }),
      { numRuns: 5000 },
    );
  });

  it('is linear: a 200k-character path with 20k dot segments normalises', () => {
    const raw = `/a${'/x/..'.repeat(20_000)}/${'b'.repeat(100_000)}`;
    expect(normalizePath(raw).path).toBe(`/a/${'b'.repeat(100_000)}`);
  });
});
