/** `Authorization: Bearer <token>` (RFC 6750 2.1) parsing shared by the OAuth2 verifiers. */
import type { CheckRequest } from '../domain.ts';

export const AUTHORIZATION_HEADER = 'authorization';
export const BEARER_STRIP = { headers: [AUTHORIZATION_HEADER], queryParams: [] as string[] } as const;

/** The bearer token, '' for a Bearer header without one, undefined when there is no Bearer header. */
export function bearerToken(request: CheckRequest): string | undefined {
  const value = request.headers[AUTHORIZATION_HEADER];
  if (value === undefined || value.length < 6) return undefined;
  // The scheme is case-insensitive (RFC 7235 2.1).
  if (value.slice(0, 6).toLowerCase() !== 'bearer' || (value.length > 6 && value[6] !== ' '))
    return undefined;
  return value.slice(7).trim();
}

/** Compact JWS shape: three base64url segments (a JWE has five and is not accepted). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/** Scopes from `scope` (space-separated, RFC 8693/9068) or `scp` (array or string, some issuers). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}
