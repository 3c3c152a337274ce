/**
 * Amazon MSK IAM access control for kafkajs: SASL/OAUTHBEARER whose token is a SigV4-presigned
 * `kafka-cluster:Connect` request made by aws-msk-iam-sasl-signer-js from the default AWS credential
 * chain (Lambda's role, IRSA / EKS Pod Identity, instance profile, env). kafkajs calls the provider on
 * every (re)authentication of every broker connection, and re-authenticates before the session
 * lifetime MSK announces runs out; the token is cached and signed again `refreshMarginMs` before it
 * expires (tokens live 15 minutes, less when the credentials expire sooner), so one signature serves
 * all connections. Signing needs no network call when the credentials are at hand (env, cached role
 * credentials); fetching them may (STS, IMDS, container endpoint).
 */
import type { OauthbearerProviderResponse } from 'kafkajs';
import { ConfigError, errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { MskIamAuthError } from '../errors.ts';

export interface MskAuthToken {
  /** base64url of the presigned URL (what MSK expects as the OAUTHBEARER token value). */
  token: string;
  /** Expiry, ms since the epoch. */
  expiryTime: number;
}

/** Makes a token for a region (the signer's generateAuthToken* functions have this shape). */
export type MskTokenSigner = (region: string) => Promise<MskAuthToken>;

/** AWS credentials as the AWS SDK's credential providers return them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/**
 * The signer of aws-msk-iam-sasl-signer-js: from the given credential provider, or from the default
 * chain. Imported on first use, so configurations without IAM never load it.
 */
export function mskIamSigner(credentials?: () => Promise<AwsCredentials>): MskTokenSigner {
  return async (region) => {
    const signer = await import('aws-msk-iam-sasl-signer-js');
    return credentials
      ? signer.generateAuthTokenFromCredentialsProvider({ region, awsCredentialsProvider: credentials })
      : signer.generateAuthToken({ region });
  };
}

const MSK_HOST_REGION = /\.kafka(?:-serverless)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?::\d+)?$/;

/**
 * The region to sign for: bus.kafka.awsRegion, else AWS_REGION / AWS_DEFAULT_REGION (set on Lambda),
 * else the one in the MSK broker host names (b-1.<cluster>.<id>.c2.kafka.<region>.amazonaws.com).
 */
export function mskRegion(
  cfg: { awsRegion: string; brokers: readonly string[] },
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (cfg.awsRegion) return cfg.awsRegion;
  const fromEnv = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (fromEnv) return fromEnv;
  for (const b of cfg.brokers) {
    const m = MSK_HOST_REGION.exec(b);
    if (m) return m[1]!;
  }
  throw new ConfigError(
    'bus.kafka.saslMechanism aws (MSK IAM): no region to sign for; set bus.kafka.awsRegion (MESH_APIM_BUS_KAFKA_AWS_REGION) or AWS_REGION',
  );
}

export interface MskIamProviderOptions {
  region: string;
  /** Sign again this long before the token expires. */
  refreshMarginMs: number;
  signer?: MskTokenSigner;
  now?: () => number;
  logger?: Logger;
}

export type MskIamTokenProvider = (() => Promise<OauthbearerProviderResponse>) & {
  /**
   * The last signing failure, until a signing succeeds. kafkajs loses the provider's error on its
   * connection retry (the next attempt fails with ILLEGAL_SASL_STATE, not retriable), so the bus
   * reports this one instead.
   */
  readonly lastError: MskIamAuthError | null;
};

/** kafkajs `oauthBearerProvider`: the cached token, signed again near its expiry; one signing at a time. */
export function mskIamTokenProvider(opts: MskIamProviderOptions): MskIamTokenProvider {
  const sign = opts.signer ?? mskIamSigner();
  const now = opts.now ?? Date.now;
  let current: MskAuthToken | null = null;
  let pending: Promise<MskAuthToken> | null = null;
  let lastError: MskIamAuthError | null = null;
  const refresh = () => {
    pending ??= sign(opts.region).then(
      (t) => {
        pending = null;
        if (!t?.token || !Number.isFinite(t.expiryTime)) {
          lastError = new MskIamAuthError('MSK IAM: the signer returned no token');
          throw lastError;
        }
        current = t;
        lastError = null;
        opts.logger?.debug(
          { region: opts.region, expiresInMs: t.expiryTime - now() },
          'MSK IAM auth token signed',
        );
        return t;
      },
      (err: unknown) => {
        pending = null;
        if (err instanceof MskIamAuthError) throw err;
        lastError = new MskIamAuthError(
          `MSK IAM: cannot sign the auth token for region ${opts.region} (${errorMessage(err)}); check that AWS credentials are available (role, IRSA, env) - retried on the next connection`,
          { cause: err },
        );
        throw lastError;
      },
    );
    return pending;
  };
  const provider = async () => {
    const t = current && now() < current.expiryTime - opts.refreshMarginMs ? current : await refresh();
    return { value: t.token };
  };
  return Object.defineProperty(provider, 'lastError', { get: () => lastError }) as MskIamTokenProvider;
}
