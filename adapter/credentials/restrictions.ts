/**
 * WSO2 API key restrictions: permittedIP (IPs and CIDRs) and permittedReferer (wildcards).
 *
 * An application developer writes both claims in the Developer Portal, so they are hostile input
 * to every adapter. They are parsed strictly (an entry that is not exactly an address, a CIDR or a
 * pattern makes the whole key invalid: never skipped, never read as a wider range), bounded in
 * length and count, and matched in linear time (no regex built from the claim).
 */
import { BlockList, isIP } from 'node:net';
import { LRUCache } from 'lru-cache';

export const RESTRICTION_LIMITS = {
  /** Characters of one permittedIP / permittedReferer claim. */
  maxClaimLength: 8192,
  /** Entries of one claim. */
  maxEntries: 100,
  /** Characters of one referer pattern. */
  maxPatternLength: 1024,
  /** A longer Referer header is not permitted by any pattern. */
  maxRefererLength: 8192,
} as const;

export type ClaimList = { ok: true; entries: string[] | null } | { ok: false; problem: string };

/**
 * Splits a WSO2 comma-separated restriction claim. Absent or empty (after trimming) = unrestricted;
 * anything but a string, an over-long claim, too many entries or an empty entry is a problem.
 */
function splitList(value: unknown): ClaimList {
  if (value === undefined) return { ok: true, entries: null };
  if (typeof value !== 'string') return { ok: false, problem: `not a string (${kindOf(value)})` };
  if (value.length > RESTRICTION_LIMITS.maxClaimLength) {
    return { ok: false, problem: `longer than ${RESTRICTION_LIMITS.maxClaimLength} characters` };
  }
  if (value.trim() === '') return { ok: true, entries: null };
  const entries = value.split(',').map((s) => s.trim());
  if (entries.length > RESTRICTION_LIMITS.maxEntries) {
    return { ok: false, problem: `more than ${RESTRICTION_LIMITS.maxEntries} entries` };
  }
  if (entries.some((e) => e === '')) return { ok: false, problem: 'an empty entry' };
  return { ok: true, entries };
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

interface Cidr {
  address: string;
  type: 'ipv4' | 'ipv6';
  /** null = a single address. */
  prefix: number | null;
}

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

/** `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n`; null for anything else (`/-0`, `/`, `/1e1`, zones). */
export function parseCidr(entry: string): Cidr | null {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  // No zone ids (`fe80::1%eth0`): a client address never carries one.
  if (address.includes('%')) return null;
  const family = isIP(address);
  if (family === 0) return null;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (slash < 0) return { address, type, prefix: null };
  const bits = entry.slice(slash + 1);
  if (!PREFIX.test(bits)) return null;
  const prefix = Number(bits);
  if (prefix > (family === 6 ? 128 : 32)) return null;
  return { address, type, prefix };
}

/** permittedIP: every entry an address or CIDR, or a problem naming the first entry that is not. */
export function parseIpList(value: unknown): ClaimList {
  const list = splitList(value);
  if (!list.ok || !list.entries) return list;
  for (const e of list.entries) {
    if (!parseCidr(e)) return { ok: false, problem: `"${e.slice(0, 64)}" is not an IP address or CIDR` };
  }
  return list;
}

/** permittedReferer: bounded patterns without control characters or whitespace. */
export function parseRefererList(value: unknown): ClaimList {
  const list = splitList(value);
  if (!list.ok || !list.entries) return list;
  for (const e of list.entries) {
    if (e.length > RESTRICTION_LIMITS.maxPatternLength) {
      return {
        ok: false,
        problem: `a pattern longer than ${RESTRICTION_LIMITS.maxPatternLength} characters`,
      };
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
    if (/[\s\u0000-\u001f\u007f]/.test(e)) return { ok: false, problem: 'a pattern with whitespace' };
  }
  return list;
}

/** Parsed lists by their joined entries (false: a list with an invalid entry, which denies). */
const blockLists = new LRUCache<string, BlockList | false>({ max: 1000 });

/** null when any entry is not valid: the caller denies (a bad entry never widens the list). */
function blockListOf(entries: readonly string[]): BlockList | null {
  const cacheKey = entries.join(',');
  const hit = blockLists.get(cacheKey);
  if (hit !== undefined) return hit || null;
  let result: BlockList | null = new BlockList();
  for (const entry of entries) {
    // Entries arrive trimmed (splitList); no second trim, so the matcher accepts exactly what parseCidr does.
    const cidr = parseCidr(entry);
    if (!cidr) {
      result = null;
      break;
    }
    try {
      if (cidr.prefix === null) result.addAddress(cidr.address, cidr.type);
      else result.addSubnet(cidr.address, cidr.prefix, cidr.type);
    } catch {
      result = null;
      break;
    }
  }
  blockLists.set(cacheKey, result ?? false);
  return result;
}

/** True when `ip` is one of the permitted IPs/CIDRs. An unknown client address never matches. */
export function ipPermitted(ip: string | null, permitted: readonly string[]): boolean {
  if (!ip) return false;
  const family = isIP(ip);
  if (family === 0) return false;
  const list = blockListOf(permitted);
  if (!list) return false;
  if (list.check(ip, family === 6 ? 'ipv6' : 'ipv4')) return true;
  // An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d).
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped ? list.check(mapped[1]!, 'ipv4') : false;
}

/** First index in [from, end - pat.length] where `pat` occurs in `text` (Knuth-Morris-Pratt: O(text + pat)), or -1. */
function indexOfLinear(text: string, pat: string, from: number, end: number): number {
  if (pat === '') return from;
  const fail = new Int32Array(pat.length);
  for (let i = 1, k = 0; i < pat.length; i++) {
    while (k > 0 && pat[i] !== pat[k]) k = fail[k - 1]!;
    if (pat[i] === pat[k]) k++;
    fail[i] = k;
  }
  for (let i = from, k = 0; i < end; i++) {
    while (k > 0 && text[i] !== pat[k]) k = fail[k - 1]!;
    if (text[i] === pat[k]) k++;
    if (k === pat.length) return i - pat.length + 1;
  }
  return -1;
}

/**
 * `*` = any run of characters. Linear: the literal pieces between stars are found left to right,
 * each at its first occurrence (for star-only globs the leftmost match is always a correct choice).
 */
export function globMatch(pattern: string, text: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === text;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (first.length + last.length > text.length || !text.startsWith(first) || !text.endsWith(last))
    return false;
  let at = first.length;
  const end = text.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i]!;
    const found = indexOfLinear(text, part, at, end);
    if (found < 0) return false;
    at = found + part.length;
  }
  return at <= end;
}

/** `scheme://`, then the authority (userinfo dropped: browsers never send it), then the rest. */
function splitUrl(s: string): { authority: string; rest: string } {
  const noScheme = s.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  let cut = noScheme.length;
  for (const c of ['/', '?', '#']) {
    const i = noScheme.indexOf(c);
    if (i >= 0 && i < cut) cut = i;
  }
  const authority = noScheme.slice(0, cut);
  return { authority: authority.slice(authority.lastIndexOf('@') + 1), rest: noScheme.slice(cut) };
}

/**
 * True when the Referer matches one of the patterns (`*` = any characters; scheme ignored;
 * case-insensitive). Host and path are matched apart, so a `*` in the host part never reaches
 * into the path: `*.example.com/*` does not match `https://evil.net/x.example.com/`. A pattern of
 * stars only matches every referer.
 */
export function refererPermitted(referer: string | null | undefined, permitted: readonly string[]): boolean {
  if (!referer || referer.length > RESTRICTION_LIMITS.maxRefererLength) return false;
  const target = splitUrl(referer.toLowerCase());
  for (const raw of permitted) {
    const lower = raw.toLowerCase().trim();
    if (!lower) continue;
    if (/^\*+$/.test(lower)) return true;
    if (lower.length > RESTRICTION_LIMITS.maxPatternLength) continue;
    const pattern = splitUrl(lower);
    if (globMatch(pattern.authority, target.authority) && globMatch(pattern.rest, target.rest)) return true;
  }
  return false;
}
