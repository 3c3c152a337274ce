/** WSO2 API key restrictions: permittedIP (IPs and CIDRs) and permittedReferer (wildcards). */
import { BlockList, isIP } from 'node:net';

const blockLists = new Map<string, BlockList | null>();

function blockListOf(entries: readonly string[]): BlockList | null {
  const cacheKey = entries.join(',');
  const hit = blockLists.get(cacheKey);
  if (hit !== undefined) return hit;
  const list = new BlockList();
  let valid = 0;
  for (const raw of entries) {
    const entry = raw.trim();
    const [addr, bits] = entry.split('/');
    const family = addr ? isIP(addr) : 0;
    if (!addr || family === 0) continue;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits !== undefined) {
      const prefix = Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) continue;
      list.addSubnet(addr, prefix, type);
    } else list.addAddress(addr, type);
    valid += 1;
  }
  const result = valid > 0 ? list : null;
  if (blockLists.size > 1000) blockLists.clear();
  blockLists.set(cacheKey, result);
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

const refererPatterns = new Map<string, RegExp>();

function stripScheme(s: string): string {
  return s.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
}

/** True when the Referer matches one of the patterns (`*` = any characters; scheme ignored). */
export function refererPermitted(referer: string | null | undefined, permitted: readonly string[]): boolean {
  if (!referer) return false;
  const target = stripScheme(referer);
  for (const raw of permitted) {
    const pattern = stripScheme(raw);
    if (!pattern) continue;
    let re = refererPatterns.get(pattern);
    if (!re) {
      re = new RegExp(
        `^${pattern
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
        'i',
      );
      if (refererPatterns.size > 1000) refererPatterns.clear();
      refererPatterns.set(pattern, re);
    }
    if (re.test(target)) return true;
  }
  return false;
}

/** Splits a comma-separated claim; null when absent or empty (= unrestricted). */
export function splitClaim(value: unknown): string[] | null {
  if (typeof value !== 'string') return null;
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return parts.length > 0 ? parts : null;
}
