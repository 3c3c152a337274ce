/**
 * Cold-start resolution of the secrets serverless.yml passes by ARN (bus.kafka.secretArn,
 * bus.kafka.caSecretArn, apim.secretArn) into the config fields the Kafka bus and the API Manager
 * client read. Each ARN is fetched once per container (a failed fetch is forgotten so the next
 * invocation tries again). Secret values are never logged nor put into error messages. The SDK is
 * imported only when an ARN is set, so functions without secrets (local runner, tests) never load it.
 */
import type { GetSecretValueCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../../common/config/index.ts';
import type { Logger } from '../../common/log.ts';
import { SecretError } from './errors.ts';

export interface ResolveSecretsOptions {
  /** Injected in tests; default: one SecretsManagerClient per container, built by secretsClientConfig(). */
  client?: Pick<SecretsManagerClient, 'send'>;
  /**
   * Attempts per secret, first included, of the default client: the SDK's standard retry mode
   * retries throttling, 5xx and network errors (full jitter from 100 ms, 500 ms for throttling).
   */
  maxAttempts?: number;
  logger?: Logger;
}

const cache = new Map<string, Promise<string>>();
let defaultClient: SecretsManagerClient | null = null;

/** Forgets cached secrets and the default client (tests). */
export function clearSecretCache(): void {
  cache.clear();
  defaultClient?.destroy();
  defaultClient = null;
}

/** The default client's retry settings: the SDK retries, so throttling is handled the AWS way. */
export function secretsClientConfig(maxAttempts = 4): { maxAttempts: number; retryMode: 'standard' } {
  return { maxAttempts, retryMode: 'standard' };
}

/**
 * Whether the invocation should be retried once the SDK gave up: it retried (throttling, 5xx,
 * network: its own classification), or there was no answer / a 5xx or 429 (a client without retries).
 * A 4xx the SDK did not retry (not found, access denied, KMS) is a configuration problem.
 */
function worthRetrying(err: unknown): boolean {
  const m = (err as { $metadata?: { attempts?: number; httpStatusCode?: number } })?.$metadata;
  if ((m?.attempts ?? 1) > 1) return true;
  const status = m?.httpStatusCode;
  return status === undefined || status === 429 || status >= 500;
}

async function fetchOnce(
  arn: string,
  client: Pick<SecretsManagerClient, 'send'>,
  logger?: Logger,
): Promise<string> {
  const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  let out: GetSecretValueCommandOutput;
  try {
    out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  } catch (err) {
    const name = (err as { name?: string })?.name ?? 'Error';
    const attempts = (err as { $metadata?: { attempts?: number } })?.$metadata?.attempts ?? 1;
    const transient = worthRetrying(err);
    logger?.warn({ arn, attempts, error: name }, 'GetSecretValue failed');
    throw new SecretError(
      arn,
      transient
        ? `GetSecretValue failed ${attempts} times (${name}); the invocation is retried`
        : `GetSecretValue failed (${name}: ${(err as Error)?.message ?? ''}); check the ARN, the role's secretsmanager:GetSecretValue and kms:Decrypt`,
      { retriable: transient, cause: err },
    );
  }
  if (typeof out.SecretString === 'string') return out.SecretString;
  if (out.SecretBinary) return Buffer.from(out.SecretBinary).toString('utf8');
  throw new SecretError(arn, 'has neither SecretString nor SecretBinary', { retriable: false });
}

async function sdkClient(maxAttempts?: number): Promise<Pick<SecretsManagerClient, 'send'>> {
  if (!defaultClient) {
    const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    defaultClient ??= new SecretsManagerClient(secretsClientConfig(maxAttempts));
  }
  return defaultClient;
}

function secretText(arn: string, options: ResolveSecretsOptions): Promise<string> {
  let p = cache.get(arn);
  if (!p) {
    p = (options.client ? Promise.resolve(options.client) : sdkClient(options.maxAttempts)).then((client) =>
      fetchOnce(arn, client, options.logger),
    );
    cache.set(arn, p);
    p.catch(() => cache.delete(arn));
  }
  return p;
}

function parseJsonObject(arn: string, text: string, expected: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input: it must not reach logs.
    throw new SecretError(arn, `is not JSON; expected ${expected}`, { retriable: false });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new SecretError(arn, `is not a JSON object; expected ${expected}`, { retriable: false });
  return parsed as Record<string, unknown>;
}

/** The named keys as non-empty strings, or an error naming the missing ones (and what is present). */
function requireKeys<K extends string>(
  arn: string,
  obj: Record<string, unknown>,
  keys: readonly K[],
  what: string,
): Record<K, string> {
  const missing = keys.filter((k) => typeof obj[k] !== 'string' || obj[k] === '');
  if (missing.length > 0) {
    const present = Object.keys(obj).sort();
    throw new SecretError(
      arn,
      `${what}: missing or empty ${missing.map((k) => `"${k}"`).join(', ')} (keys present: ${present.length ? present.join(', ') : 'none'})`,
      { retriable: false },
    );
  }
  return Object.fromEntries(keys.map((k) => [k, obj[k] as string])) as Record<K, string>;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;

function applyKafkaSecret(arn: string, text: string, kafka: Config['bus']['kafka']): void {
  const shapes = '{"username","password"} (SASL/SCRAM) or {"certificate","privateKey"} (mTLS)';
  const obj = parseJsonObject(arn, text, shapes);
  const mechanism = kafka.saslMechanism;
  if (mechanism === 'aws')
    throw new SecretError(
      arn,
      'bus.kafka.saslMechanism aws (IAM) takes no secret; unset bus.kafka.secretArn',
      {
        retriable: false,
      },
    );
  const looksTls = 'certificate' in obj || 'privateKey' in obj;
  if (mechanism === 'none' && looksTls) {
    const { certificate, privateKey } = requireKeys(
      arn,
      obj,
      ['certificate', 'privateKey'],
      'mTLS client secret',
    );
    if (!PEM_CERT.test(certificate))
      throw new SecretError(arn, '"certificate" is not a PEM certificate', { retriable: false });
    kafka.ssl = true;
    kafka.sslCert = certificate;
    kafka.sslKey = privateKey;
    if (typeof obj.privateKeyPassword === 'string') kafka.sslKeyPassword = obj.privateKeyPassword;
    return;
  }
  if (mechanism === 'none' && !('username' in obj) && !('password' in obj))
    throw new SecretError(arn, `has neither shape; expected ${shapes}`, { retriable: false });
  const { username, password } = requireKeys(arn, obj, ['username', 'password'], 'SASL credentials');
  // MSK's SASL/SCRAM is SCRAM-SHA-512 only; an explicitly configured mechanism is kept.
  if (mechanism === 'none') kafka.saslMechanism = 'scram-sha-512';
  kafka.saslUsername = username;
  kafka.saslPassword = password;
}

function applyCaSecret(arn: string, text: string, kafka: Config['bus']['kafka']): void {
  let pem = text.trim();
  if (!pem.startsWith('-----BEGIN')) {
    pem = requireKeys(
      arn,
      parseJsonObject(arn, text, '{"certificate":"<PEM>"} or a PEM'),
      ['certificate'],
      'root CA secret',
    ).certificate.trim();
  }
  if (!PEM_CERT.test(pem))
    throw new SecretError(arn, 'root CA is not a PEM certificate (no BEGIN CERTIFICATE)', {
      retriable: false,
    });
  kafka.ssl = true;
  kafka.sslCa = pem;
}

function applyApimSecret(arn: string, text: string, apim: Config['apim']): void {
  const obj = parseJsonObject(arn, text, '{"username","password"}');
  const { username, password } = requireKeys(arn, obj, ['username', 'password'], 'API Manager credentials');
  apim.username = username;
  apim.password = password;
}

/** The Stripe secret key of usage-billing: the secret string itself, or {"secretKey":"sk_..."}. */
function applyStripeSecret(arn: string, text: string, functions: Config['functions']): void {
  const t = text.trim();
  functions.billingStripeSecretKey = t.startsWith('{')
    ? requireKeys(arn, parseJsonObject(arn, t, '{"secretKey"} or the key'), ['secretKey'], 'Stripe key')
        .secretKey
    : t;
}

/**
 * The config with every configured secret applied (a copy; the input is not changed). No ARN set:
 * returns the config itself without creating a client or calling AWS.
 */
export async function resolveSecrets(config: Config, options: ResolveSecretsOptions = {}): Promise<Config> {
  const { secretArn, caSecretArn } = config.bus.kafka;
  const apimArn = config.apim.secretArn;
  const stripeArn = config.functions.billingStripeSecretArn;
  if (!secretArn && !caSecretArn && !apimArn && !stripeArn) return config;
  const [kafkaText, caText, apimText, stripeText] = await Promise.all([
    secretArn ? secretText(secretArn, options) : null,
    caSecretArn ? secretText(caSecretArn, options) : null,
    apimArn ? secretText(apimArn, options) : null,
    stripeArn ? secretText(stripeArn, options) : null,
  ]);
  const resolved = structuredClone(config);
  // A malformed secret is not kept: once the operator fixes it, the next invocation reads it again.
  const apply = (arn: string, text: string | null, fn: (arn: string, text: string) => void) => {
    if (text === null) return;
    try {
      fn(arn, text);
    } catch (err) {
      cache.delete(arn);
      throw err;
    }
  };
  apply(secretArn, kafkaText, (a, t) => applyKafkaSecret(a, t, resolved.bus.kafka));
  apply(caSecretArn, caText, (a, t) => applyCaSecret(a, t, resolved.bus.kafka));
  apply(apimArn, apimText, (a, t) => applyApimSecret(a, t, resolved.apim));
  apply(stripeArn, stripeText, (a, t) => applyStripeSecret(a, t, resolved.functions));
  options.logger?.info(
    {
      kafkaSecret: secretArn || undefined,
      kafkaCaSecret: caSecretArn || undefined,
      apimSecret: apimArn || undefined,
      stripeSecret: stripeArn || undefined,
      saslMechanism: resolved.bus.kafka.saslMechanism,
      mtls: Boolean(resolved.bus.kafka.sslCert),
    },
    'secrets resolved',
  );
  return resolved;
}
