/**
 * Step scopes: a resource's scopes bind OAuth2 tokens only. WSO2's ApiKeyAuthenticator skips
 * resource-level scope validation for API keys (they carry no scopes), so an API key is never
 * denied 900910.
 */
import { isBearer, type ValidCredential } from '../credentials/types.ts';
import type { Decision, MatchInfo } from '../domain.ts';
import { insufficientScopeHeaders } from '../response.ts';
import type { ResourceEntry } from '../snapshot/types.ts';
import { deny } from './decision.ts';

/** 403 900910 for a token with none of the resource's scopes, or null. */
export function scopes(resource: ResourceEntry, cred: ValidCredential, match: MatchInfo): Decision | null {
  if (isBearer(cred.type) && resource.scopes.length > 0 && !anyGranted(resource.scopes, cred.scopes)) {
    return deny('SCOPE_FORBIDDEN', 'SCOPE_MISSING', match, {
      headers: insufficientScopeHeaders(resource.scopes),
    });
  }
  return null;
}

function anyGranted(required: readonly string[], granted: readonly string[]): boolean {
  for (const s of required) if (granted.includes(s)) return true;
  return false;
}
