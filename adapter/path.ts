/**
 * The one path normalisation the adapter matches on (pure). It is Istio's `BASE` normalisation
 * (Envoy `normalize_path`): percent-decoding of unreserved characters only (RFC 3986 2.3, 6.2.2.2),
 * upper-case hex for what stays encoded (6.2.2.1), then dot-segment removal (5.2.4). Slashes are not
 * merged and nothing else is decoded.
 *
 * What stays ambiguous after it is reported, not guessed at: an upstream that decodes once, merges
 * slashes, maps `\` to `/` or strips `;` parameters (Tomcat, Spring) would resolve such a path to
 * another resource than the one matched here. decide() denies those unless the API opts out.
 */

export type PathAmbiguity =
  /** `%2F`: one decode away from a segment boundary. */
  | 'ENCODED_SLASH'
  /** `%5C`, or a raw `\`: Windows servers and Istio map it to `/`. */
  | 'BACKSLASH'
  /** A segment `%2e`, `.%2E`, ...: some servers treat it as `..`, others as a name. */
  | 'ENCODED_DOT_SEGMENT'
  /** `;` (raw or `%3B`): Tomcat/Spring path parameters (`..;/` climbs). */
  | 'PATH_PARAMETER'
  /** `%25` followed by hex digits: a second decode yields another character. */
  | 'DOUBLE_ENCODING'
  /** `%` not followed by two hex digits. */
  | 'BAD_ENCODING'
  /** A control character, raw or encoded (`%00` is rejected by Envoy/Istio with 400 too). */
  | 'CONTROL_CHARACTER'
  /** `//` inside the path: merged by many servers (nginx, Spring), not by Istio's BASE. */
  | 'EMPTY_SEGMENT';

export interface NormalizedPath {
  /** The path to match on. Equal to the input when nothing needed normalising. */
  path: string;
  /** The first ambiguity found, null when the path has one reading. */
  ambiguity: PathAmbiguity | null;
  /** True when the input contained dot segments (`.`/`..`, raw or encoded) that were removed. */
  hadDotSegments: boolean;
}

const HEX = /^[0-9A-Fa-f]{2}$/;
/** Characters that can need work: anything else is taken as is (the fast path). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
const SPECIAL = /[%.;\\\u0000-\u001f\u007f]|\/\//;

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x7e
  );
}

/** Decodes unreserved percent-escapes of one segment; records the first ambiguity in `found`. */
function segment(raw: string, found: { a: PathAmbiguity | null }): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
  if (!/[%;\\\u0000-\u001f\u007f]/.test(raw)) return raw;
  const note = (a: PathAmbiguity) => {
    found.a ??= a;
  };
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    const code = raw.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) {
      note('CONTROL_CHARACTER');
      out += ch;
    } else if (ch === '\\') {
      note('BACKSLASH');
      out += ch;
    } else if (ch === ';') {
      note('PATH_PARAMETER');
      out += ch;
    } else if (ch === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) {
        note('BAD_ENCODING');
        out += ch;
        continue;
      }
      const byte = Number.parseInt(hex, 16);
      i += 2;
      if (isUnreserved(byte)) {
        out += String.fromCharCode(byte);
        continue;
      }
      if (byte === 0x2f) note('ENCODED_SLASH');
      else if (byte === 0x5c) note('BACKSLASH');
      else if (byte === 0x3b) note('PATH_PARAMETER');
      else if (byte < 0x20 || byte === 0x7f) note('CONTROL_CHARACTER');
      else if (byte === 0x25 && HEX.test(raw.slice(i + 1, i + 3))) note('DOUBLE_ENCODING');
      out += `%${hex.toUpperCase()}`;
    } else out += ch;
  }
  return out;
}

/**
 * Normalises a request path (no query, no fragment). A path that does not start with `/` (an
 * asterisk-form or a malformed target) is returned as is: it matches no API context or template.
 * Linear in the path's length.
 */
export function normalizePath(raw: string): NormalizedPath {
  if (!raw.startsWith('/') || !SPECIAL.test(raw)) {
    return { path: raw, ambiguity: null, hadDotSegments: false };
  }
  const found: { a: PathAmbiguity | null } = { a: null };
  const parts = raw.slice(1).split('/');
  const out: string[] = [];
  let hadDotSegments = false;
  for (let i = 0; i < parts.length; i++) {
    const rawSeg = parts[i]!;
    const last = i === parts.length - 1;
    const seg = segment(rawSeg, found);
    if (seg === '.' || seg === '..') {
      hadDotSegments = true;
      if (seg !== rawSeg) found.a ??= 'ENCODED_DOT_SEGMENT';
      if (seg === '..') out.pop();
      // A trailing dot segment leaves the directory it names: `/a/b/..` -> `/a/`.
      if (last) out.push('');
      continue;
    }
    if (seg === '' && !last) found.a ??= 'EMPTY_SEGMENT';
    out.push(seg);
  }
  return { path: `/${out.join('/')}`, ambiguity: found.a, hadDotSegments };
}
