/**
 * Integration tests' ElasticMQ: SQS_ENDPOINT (infra/elasticmq/elasticmq.sh start prints it; .ci/run
 * exports it). Unset -> the suites are skipped with a warning, except under CI where that is an error.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';

export const sqsEndpoint = process.env.SQS_ENDPOINT;
if (!sqsEndpoint) {
  if (process.env.CI) throw new Error('SQS_ENDPOINT must be set in CI (infra/elasticmq/elasticmq.sh start)');
  console.warn(
    'SQS_ENDPOINT is not set: the SQS integration tests are SKIPPED (infra/elasticmq/elasticmq.sh start)',
  );
}

export function sqsClient(): SQSClient {
  return new SQSClient({
    region: 'us-east-1',
    endpoint: sqsEndpoint!,
    // ElasticMQ accepts any credentials; fixed ones keep the SDK from looking for real ones.
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
}

/** A queue prefix no other test (or developer on this machine) uses. */
export function uniquePrefix(tag: string): string {
  return `t${tag}${randomBytes(4).toString('hex')}`;
}

const script = fileURLToPath(new URL('../../infra/elasticmq/elasticmq.sh', import.meta.url));

/** Stops/starts the ElasticMQ the endpoint names (outage tests). */
export function elasticmq(command: 'start' | 'stop') {
  const port = /:(\d+)\/?$/.exec(sqsEndpoint ?? '')?.[1] ?? '9324';
  return promisify(execFile)('bash', [script, command], {
    env: { ...process.env, ELASTICMQ_PORT: port },
    timeout: 120_000,
  });
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
