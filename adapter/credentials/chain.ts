import type { MaybePromise } from '../../common/maybe-promise.ts';
import type { CheckRequest } from '../domain.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { ApiKeyVerifier, type ApiKeyVerifierOptions } from './apikey.ts';
import type { CredentialResult, CredentialVerifier } from './types.ts';

export interface VerifierOptions {
  apiKey: ApiKeyVerifierOptions;
}

/**
 * The verifiers in precedence order. Adding a credential type (OAuth2 JWT, opaque token) is one
 * line here: the first verifier that applies to a request decides its credential.
 */
export function defaultVerifiers(options: VerifierOptions): CredentialVerifier[] {
  return [new ApiKeyVerifier(options.apiKey)];
}

export class CredentialChain {
  readonly verifiers: readonly CredentialVerifier[];

  constructor(verifiers: readonly CredentialVerifier[]) {
    this.verifiers = verifiers;
  }

  /**
   * Throws or rejects only on an internal error, which the server turns into the configured failure
   * mode; synchronous when the verifier is (a cached credential).
   */
  verify(request: CheckRequest, snapshot: Snapshot, now: number): MaybePromise<CredentialResult> {
    for (const verifier of this.verifiers) {
      if (verifier.appliesTo(request, snapshot)) return verifier.verify(request, snapshot, now);
    }
    return { status: 'missing', type: 'none' };
  }
}
