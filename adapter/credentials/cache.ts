/**
 * Sizing shared by the credential caches (API key, JWT access token, introspection): each is an
 * lru-cache bounded in entries and in bytes, so a credential with large claims cannot make a cache
 * that holds "only" N entries cost N times its size.
 */

export const CACHE_DEFAULTS = {
  apiKeyMaxEntries: 100_000,
  jwtMaxEntries: 50_000,
} as const;

/** Map entry, key string (43-character digest) and object headers, over-estimated. */
const ENTRY_OVERHEAD = 256;

/**
 * Estimated retained bytes of a cached value: its JSON size, doubled for the object graph around the
 * strings (V8 keeps short one-byte strings at one byte a character), plus the entry's own overhead.
 * Computed once per insertion (a cache miss, which has just paid for a signature check or a call).
 */
export function cacheEntryBytes(value: unknown): number {
  let json: string;
  try {
    json = JSON.stringify(value) ?? '';
  } catch {
    json = '';
  }
  return ENTRY_OVERHEAD + 2 * json.length;
}
