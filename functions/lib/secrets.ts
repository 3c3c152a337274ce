/**
 * Cold-start resolution of the secrets serverless.yml passes by ARN (bus.kafka.secretArn,
 * bus.kafka.caSecretArn, apim.secretArn) into the config fields the Kafka bus and the API Manager
 * client read. Each ARN is fetched once per container (a failed fetch is forgotten so the next
 * invocation tries again). Secret values are never logged nor put into error messages. The SDK is
 * imported only when an ARN is set, so functions without secrets (local runner, tests) never load it.
 */
import type { GetSecretValueCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Config } from '../../common/config.ts';
import type { Logger } from '../../common/log.ts';
import { SecretError } from './errors.ts';

export interface ResolveSecretsOptions {
  /** Injected in tests; default: one SecretsManagerClient per container, SDK retries off (ours below). */
  client?: Pick<SecretsManagerClient, 'send'>;
  /** Attempts per secret on throttling/5xx/network errors, first included. */
  maxAttempts?: number;
  retryBaseMs?: number;
  sleep?: (ms: number) => Promise<void>;
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

const RETRIABLE_NAMES = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
]);

function isTransient(err: unknown): boolean {
  const e = err as {
    name?: string;
    code?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  if (e?.$retryable) return true;
  if (RETRIABLE_NAMES.has(e?.name ?? '') || RETRIABLE_NAMES.has(e?.code ?? '')) return true;
  const status = e?.$metadata?.httpStatusCode;
  return status === 429 || (status !== undefined && status >= 500);
}

async function fetchOnce(
  arn: string,
  client: Pick<SecretsManagerClient, 'send'>,
  opts: Required<Pick<ResolveSecretsOptions, 'maxAttempts' | 'retryBaseMs' | 'sleep'>> & { logger?: Logger },
): Promise<string> {
  const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  for (let attempt = 1; ; attempt++) {
    let out: GetSecretValueCommandOutput;
    try {
      out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    } catch (err) {
      const name = (err as { name?: string })?.name ?? 'Error';
      const transient = isTransient(err);
      if (transient && attempt < opts.maxAttempts) {
        const delay = opts.retryBaseMs * 2 ** (attempt - 1);
        opts.logger?.warn({ arn, attempt, error: name, delayMs: delay }, 'GetSecretValue failed, retrying');
        await opts.sleep(delay);
        continue;
      }
      throw new SecretError(
        arn,
        transient
          ? `GetSecretValue failed ${attempt} times (${name}); the invocation is retried`
          : `GetSecretValue failed (${name}: ${(err as Error)?.message ?? ''}); check the ARN, the role's secretsmanager:GetSecretValue and kms:Decrypt`,
        { retriable: transient, cause: err },
      );
    }
    if (typeof out.SecretString === 'string') return out.SecretString;
    if (out.SecretBinary) return Buffer.from(out.SecretBinary).toString('utf8');
    throw new SecretError(arn, 'has neither SecretString nor SecretBinary', { retriable: false });
  }
}

async function sdkClient(): Promise<Pick<SecretsManagerClient, 'send'>> {
  if (!defaultClient) {
    const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    // Retries are ours (fetchOnce), so throttling is retried the same way everywhere, tests included.
    defaultClient ??= new SecretsManagerClient({ maxAttempts: 1 });
  }
  return defaultClient;
}

function secretText(arn: string, options: ResolveSecretsOptions): Promise<string> {
  let p = cache.get(arn);
  if (!p) {
    p = (options.client ? Promise.resolve(options.client) : sdkClient()).then((client) =>
      fetchOnce(arn, client, {
        maxAttempts: options.maxAttempts ?? 4,
        retryBaseMs: options.retryBaseMs ?? 200,
        sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
        ...(options.logger ? { logger: options.logger } : {}),
      }),
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
