import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { kafkaClientConfig } from '../../../bus/kafka/index.ts';
import { type Config, loadConfig } from '../../../common/config/index.ts';
import { createLogger } from '../../../common/log.ts';
import { lambdaDeps } from '../../../functions/lib/deps.ts';
import { SecretError } from '../../../functions/lib/errors.ts';
import { clearSecretCache, resolveSecrets, secretsClientConfig } from '../../../functions/lib/secrets.ts';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret';
const KAFKA_ARN = `${ARN}:AmazonMSK_mesh-apim-AbCdEf`;
const CA_ARN = `${ARN}:mesh-apim/kafka-ca-AbCdEf`;
const APIM_ARN = `${ARN}:mesh-apim/apim-AbCdEf`;
const CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBrootCAfixture\n-----END CERTIFICATE-----\n';
const CERT_PEM = '-----BEGIN CERTIFICATE-----\nMIIBclientfixture\n-----END CERTIFICATE-----\n';
const KEY_PEM = '-----BEGIN PRIVATE KEY-----\nMIIEkeyfixture\n-----END PRIVATE KEY-----\n';

const sm = mockClient(SecretsManagerClient);
const client = new SecretsManagerClient({ region: 'eu-west-1' });
const log = createLogger('test');

function config(env: Record<string, string> = {}): Config {
  return loadConfig({ env: { KAFKA_BROKERS: '127.0.0.1:1', ...env } });
}
function secret(arn: string, value: unknown) {
  sm.on(GetSecretValueCommand, { SecretId: arn }).resolves({
    ARN: arn,
    SecretString: typeof value === 'string' ? value : JSON.stringify(value),
  });
}
function awsError(name: string, status: number): Error {
  return Object.assign(new Error(`${name} from AWS`), { name, $metadata: { httpStatusCode: status } });
}
async function rejection(p: Promise<unknown>): Promise<SecretError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SecretError);
  return err as SecretError;
}

beforeEach(() => {
  sm.reset();
  clearSecretCache();
});
afterEach(() => clearSecretCache());

describe('resolveSecrets: Kafka credentials', () => {
  it('SCRAM JSON (MSK AmazonMSK_* secret) -> SASL username/password, SCRAM-SHA-512 when none was set', async () => {
    secret(KAFKA_ARN, { username: 'alice', password: 's3cr3t-pw' });
    const before = config({ MESH_APIM_BUS_KAFKA_SECRET_ARN: KAFKA_ARN });
    const c = await resolveSecrets(before, { client });
    expect(c.bus.kafka).toMatchObject({
      saslMechanism: 'scram-sha-512',
      saslUsername: 'alice',
      saslPassword: 's3cr3t-pw',
    });
    expect(before.bus.kafka.saslPassword).toBe(''); // input not mutated
    expect(kafkaClientConfig(c.bus.kafka, log).sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'alice',
      password: 's3cr3t-pw',
    });
  });

  it('keeps an explicitly configured SASL mechanism', async () => {
    secret(KAFKA_ARN, { username: 'alice', password: 'pw' });
    const c = await resolveSecrets(
      config({
        MESH_APIM_BUS_KAFKA_SECRET_ARN: KAFKA_ARN,
        MESH_APIM_BUS_KAFKA_SASL_MECHANISM: 'scram-sha-256',
      }),
      { client },
    );
    expect(c.bus.kafka.saslMechanism).toBe('scram-sha-256');
  });

  it('mTLS JSON (Lambda client-certificate format) -> TLS client certificate, key and passphrase', async () => {
    secret(KAFKA_ARN, { certificate: CERT_PEM, privateKey: KEY_PEM, privateKeyPassword: 'kp' });
    const c = await resolveSecrets(config({ MESH_APIM_BUS_KAFKA_SECRET_ARN: KAFKA_ARN }), { client });
    expect(c.bus.kafka).toMatchObject({
      saslMechanism: 'none',
      ssl: true,
      sslCert: CERT_PEM,
      sslKey: KEY_PEM,
      sslKeyPassword: 'kp',
    });
    const k = kafkaClientConfig(c.bus.kafka, log);
    expect(k.ssl).toEqual({ cert: CERT_PEM, key: KEY_PEM, passphrase: 'kp' });
    expect(k.sasl).toBeUndefined();
  });

  it.each([
    ['JSON {"certificate"}', { certificate: CA_PEM }],
    ['bare PEM', CA_PEM],
  ])('root CA as %s -> ssl on with that CA', async (_, value) => {
    secret(CA_ARN, value);
    const c = await resolveSecrets(config({ MESH_APIM_BUS_KAFKA_CA_SECRET_ARN: CA_ARN }), { client });
    expect(c.bus.kafka.ssl).toBe(true);
    expect(c.bus.kafka.sslCa).toBe(CA_PEM.trim());
    expect(kafkaClientConfig(c.bus.kafka, log).ssl).toEqual({ ca: [CA_PEM.trim()] });
  });

  it('client certificate and root CA together (self-managed Kafka, mTLS)', async () => {
    secret(KAFKA_ARN, { certificate: CERT_PEM, privateKey: KEY_PEM });
    secret(CA_ARN, { certificate: CA_PEM });
    const c = await resolveSecrets(
      config({ MESH_APIM_BUS_KAFKA_SECRET_ARN: KAFKA_ARN, MESH_APIM_BUS_KAFKA_CA_SECRET_ARN: CA_ARN }),
      { client },
    );
    expect(kafkaClientConfig(c.bus.kafka, log).ssl).toEqual({
      ca: [CA_PEM.trim()],
      cert: CERT_PEM,
      key: KEY_PEM,
    });
  });
});

describe('resolveSecrets: API Manager credentials', () => {
  it('{"username","password"} -> apim.username/password', async () => {
    secret(APIM_ARN, { username: 'publisher', password: 'apim-pw' });
    const c = await resolveSecrets(config({ MESH_APIM_APIM_SECRET_ARN: APIM_ARN }), { client });
    expect(c.apim.username).toBe('publisher');
    expect(c.apim.password).toBe('apim-pw');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });
});

describe('resolveSecrets: the Stripe key of usage-billing', () => {
  const STRIPE_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:mesh-apim/stripe-AbCdEf';
  it('the secret string itself or {"secretKey"} -> functions.billingStripeSecretKey', async () => {
    secret(STRIPE_ARN, 'sk_live_plain\n');
    const env = { MESH_APIM_FUNCTIONS_BILLING_STRIPE_SECRET_ARN: STRIPE_ARN };
    expect((await resolveSecrets(config(env), { client })).functions.billingStripeSecretKey).toBe(
      'sk_live_plain',
    );
    sm.reset();
    clearSecretCache();
    secret(STRIPE_ARN, { secretKey: 'sk_live_json' });
    expect((await resolveSecrets(config(env), { client })).functions.billingStripeSecretKey).toBe(
      'sk_live_json',
    );
  });
});

describe('resolveSecrets: malformed secrets fail clearly, not retriable, without leaking values', () => {
  it('missing password: names the ARN and the key, not the values', async () => {
    secret(KAFKA_ARN, { username: 'alice-the-user' });
    const err = await rejection(
      resolveSecrets(config({ MESH_APIM_BUS_KAFKA_SECRET_ARN: KAFKA_ARN }), { client }),
    );
    expect(err.retriable).toBe(false);
    expect(err.code).toBe('SECRET_INVALID');
    expect(err.message).toContain(KAFKA_ARN);
    expect(err.message).toMatch(/missing or empty "password"/);
    expect(err.message).not.toContain('alice-the-user');
  });

  it('mTLS secret without privateKey', async () => {
    secret(KAFKA_ARN, { certificate: CERT_PEM });
    const err = await rejection(
      resolveSecrets(config({ MESH_APIM_BUS_KAFKA_SECRET_ARN: KAFKA_ARN }), { client }),
    );
    expect(err.message).toMatch(/mTLS client secret: missing or empty "privateKey"/);
    expect(err.message).not.toContain('MIIBclientfixture');
  });

  it('API Manager secret with neither key; Kafka secret of no known shape', async () => {
    secret(APIM_ARN, { user: 'x' });
    const apim = await rejection(resolveSecrets(config({ MESH_APIM_APIM_SECRET_ARN: APIM_ARN }), { client }));
    expect(apim.message).toMatch(/missing or empty "username", "password" \(keys present: user\)/);
    secret(KAFKA_ARN, { token: 'abc' });
    const kafka = await rejection(
      resolveSecrets(config({ MESH_APIM_BUS_KAFKA_SECRET_ARN: KAFKA_ARN }), { client }),
    );
    expect(kafka.message).toMatch(/has neither shape/);
  });

  it('not JSON: the content is not quoted in the error', async () => {
    secret(APIM_ARN, 'hunter2-not-json');
    const err = await rejection(resolveSecrets(config({ MESH_APIM_APIM_SECRET_ARN: APIM_ARN }), { client }));
    expect(err.message).toMatch(/is not JSON/);
    expect(err.message).not.toContain('hunter2');
    expect(err.cause).toBeUndefined();
  });

  it('CA secret without a PEM certificate', async () => {
    secret(CA_ARN, { certificate: 'not a pem' });
    const err = await rejection(
      resolveSecrets(config({ MESH_APIM_BUS_KAFKA_CA_SECRET_ARN: CA_ARN }), { client }),
    );
    expect(err.message).toMatch(/not a PEM certificate/);
  });
});

describe('resolveSecrets: Secrets Manager failures', () => {
  it('a 5xx the client did not retry: retriable error, and the next call fetches again', async () => {
    sm.on(GetSecretValueCommand).rejects(awsError('InternalServiceError', 500));
    const cfg = config({ MESH_APIM_APIM_SECRET_ARN: APIM_ARN });
    const err = await rejection(resolveSecrets(cfg, { client }));
    expect(err.retriable).toBe(true);
    expect(err.code).toBe('SECRET_UNAVAILABLE');
    expect(err.message).toContain(APIM_ARN);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    sm.reset();
    secret(APIM_ARN, { username: 'u', password: 'p' });
    expect((await resolveSecrets(cfg, { client })).apim.password).toBe('p');
  });

  it('the default client retries in the SDK: standard mode, 4 attempts unless told', async () => {
    const c = new SecretsManagerClient({ region: 'eu-west-1', ...secretsClientConfig() });
    expect(await c.config.maxAttempts()).toBe(4);
    expect((await c.config.retryStrategy()) as { mode?: string }).toMatchObject({ mode: 'standard' });
    expect(secretsClientConfig(2).maxAttempts).toBe(2);
    c.destroy();
  });

  it('not found / access denied: not retriable, one call', async () => {
    sm.on(GetSecretValueCommand).rejects(awsError('ResourceNotFoundException', 400));
    const err = await rejection(resolveSecrets(config({ MESH_APIM_APIM_SECRET_ARN: APIM_ARN }), { client }));
    expect(err.retriable).toBe(false);
    expect(err.message).toMatch(/ResourceNotFoundException/);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('no ARN set: no Secrets Manager call at all, config returned as is', async () => {
    const cfg = config();
    expect(await resolveSecrets(cfg, { client })).toBe(cfg);
    expect(sm.calls()).toHaveLength(0);
  });
});

describe('lambdaDeps: secrets resolved once per container, before the bus and the APIM client', () => {
  const env = {
    KAFKA_BROKERS: 'b-1.example:9096',
    MESH_APIM_BUS_KAFKA_SSL: 'true',
    MESH_APIM_BUS_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    MESH_APIM_BUS_KAFKA_SECRET_ARN: KAFKA_ARN,
    MESH_APIM_APIM_SECRET_ARN: APIM_ARN,
    APIM_URL: 'https://apim.example:9443',
  };

  it('every invocation gets the resolved config; GetSecretValue runs once per ARN (default client)', async () => {
    secret(KAFKA_ARN, { username: 'alice', password: 'pw' });
    secret(APIM_ARN, { username: 'publisher', password: 'apim-pw' });
    const deps = lambdaDeps(env);
    const first = await deps();
    const second = await deps();
    expect(second).toBe(first);
    expect(first.config.bus.kafka.saslPassword).toBe('pw');
    expect(first.config.apim.password).toBe('apim-pw');
    // A second handler module in the same container reuses the cached secrets too.
    await lambdaDeps(env)();
    expect(
      sm
        .commandCalls(GetSecretValueCommand)
        .map((c) => c.args[0].input.SecretId)
        .sort(),
    ).toEqual([APIM_ARN, KAFKA_ARN].sort());
  });

  it('a malformed secret fails the invocation and is read again on the next one', async () => {
    secret(APIM_ARN, { username: 'publisher' });
    secret(KAFKA_ARN, { username: 'alice', password: 'pw' });
    const deps = lambdaDeps(env);
    const err = await rejection(deps());
    expect(err.arn).toBe(APIM_ARN);
    secret(APIM_ARN, { username: 'publisher', password: 'fixed' });
    expect((await deps()).config.apim.password).toBe('fixed');
  });

  it('no ARN in the environment: no call', async () => {
    const d = await lambdaDeps({ KAFKA_BROKERS: 'b-1.example:9096' })();
    expect(d.config.bus.kafka.saslMechanism).toBe('none');
    expect(sm.calls()).toHaveLength(0);
  });
});

// aws-sdk-client-mock replaces `send`, so the SDK's retry never runs under it: these go through the
// real client stack (default client, standard retry) to a local Secrets Manager stand-in.
describe('resolveSecrets: the SDK retries throttling and 5xx (real client, local endpoint)', () => {
  let server: Server;
  let answers: { status: number; body: unknown }[] = [];
  let requests = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        const a = answers.shift() ?? {
          status: 500,
          body: { __type: 'InternalServiceError', message: 'down' },
        };
        res.writeHead(a.status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', `http://127.0.0.1:${port}`);
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDTEST');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test-secret');
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await new Promise((r) => server.close(r));
    sm.reset(); // stubs `send` again for whatever runs after
  });
  beforeEach(() => {
    // After the file's beforeEach, whose sm.reset() stubs `send` again.
    sm.restore();
    requests = 0;
    answers = [];
  });

  it('throttling is retried by the SDK with backoff, then succeeds', async () => {
    const throttled = { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } };
    answers = [
      throttled,
      throttled,
      { status: 200, body: { ARN: APIM_ARN, SecretString: '{"username":"u","password":"p"}' } },
    ];
    const c = await resolveSecrets(config({ MESH_APIM_APIM_SECRET_ARN: APIM_ARN }));
    expect(c.apim.username).toBe('u');
    expect(requests).toBe(3);
  });

  it('5xx past the attempts: retriable error after maxAttempts requests', async () => {
    const err = await rejection(
      resolveSecrets(config({ MESH_APIM_APIM_SECRET_ARN: APIM_ARN }), { maxAttempts: 3 }),
    );
    expect(err.retriable).toBe(true);
    expect(err.message).toMatch(/failed 3 times \(InternalServiceError\)/);
    expect(requests).toBe(3);
  });

  it('not found is not retried by the SDK: one request, not retriable', async () => {
    answers = [{ status: 400, body: { __type: 'ResourceNotFoundException', message: 'no such secret' } }];
    const err = await rejection(resolveSecrets(config({ MESH_APIM_APIM_SECRET_ARN: APIM_ARN })));
    expect(err.retriable).toBe(false);
    expect(requests).toBe(1);
  });
});
