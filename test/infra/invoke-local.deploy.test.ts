/**
 * `serverless invoke local` on every function of serverless.yml, stage ci-kafka, as an operator would
 * run it: the framework builds the function's bundle (infra/aws/serverless/bundle-plugin.cjs), loads
 * .build/functions/<name>/handler.js (the file that is zipped and deployed, not the TypeScript source) and
 * calls its handler with a sample event from events/samples. Each function talks to a backend on
 * loopback: Secrets Manager (the cold-start secret resolution: a fake answering GetSecretValue),
 * Elasticsearch `_bulk` (fake), API Manager's publisher API (fake), SQS (ElasticMQ, SQS_ENDPOINT as
 * in .ci/run). Every other AWS endpoint is pointed at a closed loopback port, so nothing leaves the
 * machine. Run by `npm run test:deploy`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, DeleteQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toLambdaEvent } from '../../cli/commands/invoke.ts';
import { adapterQueueName, HEARTBEAT_TAG } from '../../events/revocation-queue.ts';
import { listHandlers, offlineServerlessEnv } from '../../infra/aws/package.ts';
import { FakeApim } from '../support/fakes/fake-apim-publisher.ts';
import { type FakeBulk, startFakeBulk } from '../support/fakes/fake-bulk.ts';
import { FakeStripe } from '../support/fakes/fake-stripe.ts';
import { hasOpenssl, selfSigned } from '../support/openssl.ts';
import { sqsClient, sqsEndpoint, uniquePrefix } from '../support/sqs.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const STAGE = 'ci-kafka';
const ACCOUNT = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret';
const SECRET_KAFKA = `${ACCOUNT}:mesh-apim/kafka-client-cert-AbCdEf`;
const SECRET_CA = `${ACCOUNT}:mesh-apim/kafka-ca-AbCdEf`;
const SECRET_APIM = `${ACCOUNT}:mesh-apim/apim-AbCdEf`;
/** Nothing listens here: an AWS call this test did not route elsewhere fails at once, locally. */
const SECRET_STRIPE = `${ACCOUNT}:mesh-apim/stripe-AbCdEf`;
const CLOSED = 'http://127.0.0.1:9';

interface Invocation {
  code: number;
  result: Record<string, unknown> | null;
  stdout: string;
  stderr: string;
}

let tmp: string;
let secretsUrl: string;
let secretsServer: Server;
const secretsAsked: string[] = [];
const secrets = new Map<string, string>();

/** A Secrets Manager GetSecretValue endpoint (AWS JSON 1.1 protocol) over the secrets map. */
async function startFakeSecretsManager(): Promise<void> {
  secretsServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const { SecretId } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        SecretId?: string;
      };
      const value = SecretId ? secrets.get(SecretId) : undefined;
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (target !== 'secretsmanager.GetSecretValue' || !SecretId || value === undefined) {
        res
          .writeHead(400)
          .end(JSON.stringify({ __type: 'ResourceNotFoundException', message: `no secret ${SecretId}` }));
        return;
      }
      secretsAsked.push(SecretId);
      res
        .writeHead(200)
        .end(JSON.stringify({ ARN: SecretId, Name: SecretId.split(':').pop(), SecretString: value }));
    });
  });
  await new Promise<void>((r) => secretsServer.listen(0, '127.0.0.1', r));
  secretsUrl = `http://127.0.0.1:${(secretsServer.address() as AddressInfo).port}`;
}

/** A sample plain event wrapped into a self-managed Kafka event on the function's trigger topic. */
async function sampleEvent(fnFile: string, sample: string): Promise<string> {
  const mod = (await import(`../../functions/${fnFile}/index.ts`)) as {
    default: Parameters<typeof toLambdaEvent>[1];
  };
  const json = JSON.parse(readFileSync(path.join(repoRoot, 'events/samples', sample), 'utf8')) as unknown;
  const file = path.join(tmp, `${fnFile}.event.json`);
  writeFileSync(file, JSON.stringify(toLambdaEvent(json, mod.default)));
  return file;
}

/** `serverless invoke local -f <fn> --stage ci-kafka -p <event>` with stage params and env overrides. */
function invokeLocal(
  fn: string,
  eventFile: string,
  opts: { params?: Record<string, string>; env?: Record<string, string> } = {},
): Promise<Invocation> {
  const args = ['invoke', 'local', '-f', fn, '--stage', STAGE, '-p', eventFile];
  for (const [k, v] of Object.entries(opts.params ?? {})) args.push(`--param=${k}=${v}`);
  // Kafka is not reached by these cases (no dead letter, no produce); a closed port if it were.
  const env = { KAFKA_BROKERS: '127.0.0.1:9', ...opts.env };
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  const childEnv = {
    ...offlineServerlessEnv('eu-west-1'),
    MESH_APIM_LOG_LEVEL: 'silent',
    AWS_ENDPOINT_URL: CLOSED,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsUrl,
  };
  return new Promise((resolve) => {
    // Async: the fakes answer from this process while the child runs.
    execFile(
      path.join(repoRoot, 'node_modules/.bin/serverless'),
      args,
      { cwd: repoRoot, env: childEnv, timeout: 180_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
        const start = stdout.search(/^\{/m);
        let result: Record<string, unknown> | null = null;
        if (start >= 0) {
          try {
            result = JSON.parse(stdout.slice(start)) as Record<string, unknown>;
          } catch {
            result = null;
          }
        }
        resolve({ code, result, stdout, stderr });
      },
    );
  });
}

const explain = (inv: Invocation) => `exit ${inv.code}\nstdout:\n${inv.stdout}\nstderr:\n${inv.stderr}`;

let bulk: FakeBulk;
let apim: FakeApim;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'mesh-apim-invoke-local-'));
  if (!hasOpenssl) throw new Error('openssl is needed for the mTLS client secret of stage ci-kafka');
  const client = selfSigned(tmp, 'client', 'mesh-apim-functions');
  const ca = selfSigned(tmp, 'ca', 'kafka-ca');
  secrets.set(
    SECRET_KAFKA,
    JSON.stringify({
      certificate: readFileSync(client.cert, 'utf8'),
      privateKey: readFileSync(client.key, 'utf8'),
    }),
  );
  secrets.set(SECRET_CA, JSON.stringify({ certificate: readFileSync(ca.cert, 'utf8') }));
  secrets.set(SECRET_APIM, JSON.stringify({ username: 'admin', password: 'admin' }));
  await startFakeSecretsManager();
  bulk = await startFakeBulk();
  apim = new FakeApim(null);
  await apim.start();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([
    bulk?.close(),
    apim?.stop(),
    new Promise<void>((r) => (secretsServer ? secretsServer.close(() => r()) : r())),
  ]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('serverless invoke local on the packaged bundles (stage ci-kafka)', () => {
  it('covers every function serverless.yml lists', () => {
    expect(
      listHandlers()
        .map((h) => h.key)
        .sort(),
    ).toEqual(
      ['analyticsPublisher', 'apiAutoCreator', 'revocationFanout', 'usageBilling', 'usageMetering'].sort(),
    );
  });

  it('analyticsPublisher: a served request -> apim:response document in _bulk', async () => {
    const inv = await invokeLocal(
      'analyticsPublisher',
      path.join(repoRoot, 'events/samples/lambda/analytics-publisher/response-served.self-managed.json'),
      { params: { analyticsSinks: 'http', analyticsHttpUrl: bulk.url } },
    );
    expect(inv.code, explain(inv)).toBe(0);
    expect(inv.stderr).toContain('bundled .build/functions/analytics-publisher/handler.js');
    expect(inv.result).toMatchObject({ records: 1, processed: 1, deadLettered: 0, failures: 0 });
    const indices = [...bulk.docs.keys()].map((k) => k.split('/')[0]);
    expect(indices).toEqual(['apim_event_response']);
    expect(secretsAsked).toEqual(expect.arrayContaining([SECRET_KAFKA, SECRET_CA]));
  }, 240_000);

  it('apiAutoCreator: service-deployed -> API created and published in API Manager', async () => {
    const event = await sampleEvent(
      'api-auto-creator',
      'service-deployed/service-deployed-inline-openapi.json',
    );
    const inv = await invokeLocal('apiAutoCreator', event, { params: { apimUrl: apim.url } });
    expect(inv.code, explain(inv)).toBe(0);
    expect(inv.result).toMatchObject({ records: 1, processed: 1, deadLettered: 0, failures: 0 });
    const apis = [...apim.apis.values()];
    expect(apis).toHaveLength(1);
    expect(apis[0]!.lifeCycleStatus).toBe('PUBLISHED');
    expect(secretsAsked).toContain(SECRET_APIM);
  }, 240_000);

  it('usageMetering: a request is counted (its hour stays open: nothing produced)', async () => {
    const event = await sampleEvent('usage-metering', 'request-attributes/allowed-with-response.json');
    // The meter state topic needs a broker (this stage's is TLS, out of reach here); the topic store
    // is tested in test/functions/usage-metering/state.test.ts. Here: the bundle counts the request.
    const inv = await invokeLocal('usageMetering', event, {
      env: { MESH_APIM_FUNCTIONS_USAGE_STATE_TOPIC: 'false' },
    });
    expect(inv.code, explain(inv)).toBe(0);
    expect(inv.result).toMatchObject({ records: 1, processed: 1, deadLettered: 0, failures: 0 });
  }, 240_000);

  it('usageBilling: a closed window becomes one Stripe usage record (key from the stage secret)', async () => {
    const stripe = await new FakeStripe({ items: { si_gold: undefined } }).start();
    try {
      secrets.set(SECRET_STRIPE, JSON.stringify({ secretKey: stripe.secretKey }));
      const event = await sampleEvent('usage-billing', 'usage/closed-window.json');
      const mapping = JSON.stringify({
        subscriptionItems: [
          {
            application: 'ShopFrontend',
            api: 'PetStore:1.0.0',
            tier: 'Gold',
            keyType: 'PRODUCTION',
            item: 'si_gold',
          },
        ],
      });
      const inv = await invokeLocal('usageBilling', event, {
        env: {
          MESH_APIM_FUNCTIONS_BILLING_STRIPE_URL: stripe.url,
          MESH_APIM_FUNCTIONS_BILLING_MAPPING: mapping,
        },
      });
      expect(inv.code, explain(inv)).toBe(0);
      expect(inv.result).toMatchObject({ records: 1, processed: 1, deadLettered: 0, failures: 0 });
      expect(stripe.requests).toHaveLength(1);
      expect(stripe.requests[0]).toMatchObject({
        path: '/v1/subscription_items/si_gold/usage_records',
        status: 200,
      });
      expect(stripe.total('si_gold')).toBe(1204);
      expect(secretsAsked).toContain(SECRET_STRIPE);
    } finally {
      await stripe.stop();
    }
  }, 240_000);

  describe.skipIf(!sqsEndpoint)('revocationFanout (ElasticMQ)', () => {
    it('token-revoked -> the message in every live adapter queue', async () => {
      const prefix = uniquePrefix('invoke');
      const sqs = sqsClient();
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({
          QueueName: adapterQueueName(prefix, 'pod-1'),
          tags: { [HEARTBEAT_TAG]: String(Date.now()) },
        }),
      );
      try {
        const event = await sampleEvent('revocation-fanout', 'token-revoked/token-revoked-jti.json');
        const inv = await invokeLocal('revocationFanout', event, {
          params: { adapterQueuePrefix: prefix },
          env: {
            MESH_APIM_REVOCATION_SQS_ENDPOINT: sqsEndpoint!,
            MESH_APIM_REVOCATION_SQS_REGION: 'us-east-1',
          },
        });
        expect(inv.code, explain(inv)).toBe(0);
        expect(inv.result).toMatchObject({ records: 1, processed: 1, deadLettered: 0, failures: 0 });
        const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 2 }));
        const sample = JSON.parse(
          readFileSync(path.join(repoRoot, 'events/samples/token-revoked/token-revoked-jti.json'), 'utf8'),
        ) as { eventId: string };
        expect(got.Messages?.map((m) => (JSON.parse(m.Body!) as { eventId: string }).eventId)).toEqual([
          sample.eventId,
        ]);
      } finally {
        await sqs.send(new DeleteQueueCommand({ QueueUrl }));
      }
    }, 240_000);
  });

  it('revocationFanout without a reachable SQS fails the invocation clearly (Lambda would retry)', async () => {
    const event = await sampleEvent('revocation-fanout', 'token-revoked/token-revoked-jti.json');
    const inv = await invokeLocal('revocationFanout', event, {
      env: { MESH_APIM_REVOCATION_SQS_ENDPOINT: CLOSED },
    });
    expect(inv.code, explain(inv)).toBe(1);
    expect(inv.result?.errorType, explain(inv)).toBe('BatchRetryError');
    expect(String(inv.result?.errorMessage)).toMatch(/retr/i);
  }, 240_000);
});

describe('packaged zips', () => {
  it.each(['ci-msk', 'ci-msk-iam', 'ci-kafka'])(
    'stage %s: each zip holds its .js bundle and the ESM package.json',
    (stage) => {
      for (const h of listHandlers()) {
        const zip = path.join(repoRoot, 'dist/serverless', stage, `${h.key}.zip`);
        const listing = execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' }).split('\n').filter(Boolean);
        expect(listing.sort(), zip).toEqual(
          [h.bundle, `${h.bundle}.map`, '.build/functions/package.json'].sort(),
        );
      }
    },
  );
});
