/**
 * MSK IAM (saslMechanism aws) against the real local broker's SASL_PLAINTEXT/OAUTHBEARER listener
 * (infra/kafka/kafka.sh with KAFKA_OAUTHBEARER_PORT; .ci/run exports KAFKA_OAUTHBEARER_BROKERS). That
 * listener runs Kafka's unsecured validator, which accepts an unsigned JWS with `sub` and `exp`, so the
 * injected signer returns one: what is proven is that the bus authenticates every connection with the
 * token its provider returns (produce, consume, admin), that the broker's rejection of a bad token and a
 * signer without credentials surface as clear errors. Real MSK validates the SigV4 token made by
 * aws-msk-iam-sasl-signer-js instead (its shape is unit-tested in msk-iam.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { BusError, MskIamAuthError } from '../../bus/errors.ts';
import { KafkaBus } from '../../bus/kafka/index.ts';
import type { MskTokenSigner } from '../../bus/kafka/msk-iam.ts';
import type { InRecord } from '../../bus/types.ts';
import { loadConfig } from '../../common/config/index.ts';

const brokers = process.env.KAFKA_OAUTHBEARER_BROKERS;
if (!brokers) {
  if (process.env.CI) throw new Error('KAFKA_OAUTHBEARER_BROKERS must be set in CI (.ci/run)');
  console.warn('KAFKA_OAUTHBEARER_BROKERS is not set: the MSK IAM integration test is SKIPPED');
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** An unsecured JWS (alg none, empty signature), as Kafka's OAuthBearerUnsecuredJws parses it. */
const unsignedJws = (sub: string, expSeconds: number) =>
  `${b64({ alg: 'none' })}.${b64({ sub, iat: Math.floor(Date.now() / 1000), exp: expSeconds })}.`;

function iamBus(signer: MskTokenSigner) {
  const cfg = loadConfig({
    env: {
      KAFKA_BROKERS: brokers!,
      MESH_APIM_BUS_KAFKA_SASL_MECHANISM: 'aws',
      MESH_APIM_BUS_KAFKA_AWS_REGION: 'eu-west-1',
    },
    overrides: { 'bus.kafka.retries': 1, 'bus.kafka.sessionTimeoutMs': 8000 },
  }).bus.kafka;
  return new KafkaBus(cfg, undefined, { mskSigner: signer });
}

describe.skipIf(!brokers)('MSK IAM over SASL/OAUTHBEARER (real broker, unsecured validator)', () => {
  it('produces and consumes with the token the provider signed, signing once for every connection', async () => {
    const regions: string[] = [];
    const bus = iamBus(async (region) => {
      regions.push(region);
      const exp = Math.floor(Date.now() / 1000) + 900;
      return { token: unsignedJws('mesh-apim-functions', exp), expiryTime: exp * 1000 };
    });
    const topic = `test.msk-iam.${Date.now()}`;
    try {
      await bus.ensureTopics([
        { name: topic, partitions: 1, retentionMs: 3_600_000, cleanupPolicy: 'delete' },
      ]);
      await bus.produce(topic, [{ key: 'k', value: 'over oauthbearer' }]);
      const got: InRecord[] = [];
      const sub = await bus.consume({
        groupId: `msk-iam-${Date.now()}`,
        topics: [topic],
        fromBeginning: true,
        handler: async (batch) => {
          got.push(...batch.records);
        },
      });
      const end = Date.now() + 60_000;
      while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      await sub.stop();
      expect(got.map((r) => r.value?.toString())).toEqual(['over oauthbearer']);
      // Admin, producer and consumer connections (several brokers' worth) all used the cached token.
      expect(regions).toEqual(['eu-west-1']);
    } finally {
      await bus.close();
    }
  }, 120_000);

  // The negative control of the first case: the listener does validate the token. kafkajs 2.2.4 does
  // not answer the broker's OAUTHBEARER error challenge, so the broker closes the connection and the
  // failure reaches us as a closed connection (retriable), not as an authentication error.
  it('a token the broker rejects (expired) fails produce, nothing is written', async () => {
    const bus = iamBus(async () => ({
      token: unsignedJws('mesh-apim-functions', Math.floor(Date.now() / 1000) - 60),
      // Valid as far as the provider knows: the broker is the one that says no.
      expiryTime: Date.now() + 900_000,
    }));
    try {
      const err = await bus
        .produce('test.msk-iam.rejected', [{ key: null, value: 'x' }])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BusError);
      expect((err as Error).message).toMatch(/Closed connection|SASL|authenticat/i);
    } finally {
      await bus.close();
    }
  }, 120_000);

  it('no credentials to sign with: produce fails with the retriable MskIamAuthError, not a hang', async () => {
    const bus = iamBus(async () => {
      throw new Error('Could not load credentials from any providers');
    });
    try {
      const err = await bus
        .produce('test.msk-iam.nocreds', [{ key: null, value: 'x' }])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MskIamAuthError);
      expect((err as MskIamAuthError).retriable).toBe(true);
      expect((err as Error).message).toMatch(/eu-west-1.*Could not load credentials/);
    } finally {
      await bus.close();
    }
  }, 120_000);
});
