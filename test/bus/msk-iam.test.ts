import { describe, expect, it } from 'vitest';
import { BrokerUnavailableError, MskIamAuthError } from '../../bus/errors.ts';
import { toBusError } from '../../bus/kafka/index.ts';
import { type MskAuthToken, mskIamSigner, mskIamTokenProvider, mskRegion } from '../../bus/kafka/msk-iam.ts';
import { ConfigError, isRetriable } from '../../common/errors.ts';

const CREDS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token-example',
};

const decode = (token: string) => new URL(Buffer.from(token, 'base64url').toString('utf8'));

describe('MSK IAM signer (aws-msk-iam-sasl-signer-js, injected credentials)', () => {
  it('signs a presigned kafka-cluster:Connect URL for the region, valid 15 minutes', async () => {
    const before = Date.now();
    const t = await mskIamSigner(async () => CREDS)('eu-west-1');
    expect(t.token).toMatch(/^[A-Za-z0-9_-]+$/); // base64url, no padding
    const url = decode(t.token);
    expect(url.host).toBe('kafka.eu-west-1.amazonaws.com');
    const q = url.searchParams;
    expect(q.get('Action')).toBe('kafka-cluster:Connect');
    expect(q.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(q.get('X-Amz-Credential')).toMatch(
      /^AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/,
    );
    expect(q.get('X-Amz-Security-Token')).toBe(CREDS.sessionToken);
    expect(q.get('X-Amz-Expires')).toBe('900');
    expect(q.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(q.get('User-Agent')).toMatch(/^aws-msk-iam-sasl-signer-js\//);
    // Expiry from the signing time (second precision) + 900 s.
    expect(t.expiryTime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 899_000);
    expect(t.expiryTime).toBeLessThanOrEqual(Date.now() + 900_000);
    // The secret key is what signs: another key, another signature; and it never appears in the token.
    const other = await mskIamSigner(async () => ({ ...CREDS, secretAccessKey: 'other' }))('eu-west-1');
    expect(decode(other.token).searchParams.get('X-Amz-Signature')).not.toBe(q.get('X-Amz-Signature'));
    expect(Buffer.from(t.token, 'base64url').toString()).not.toContain(CREDS.secretAccessKey);
  });

  it('a token is no longer valid than the credentials it was signed with', async () => {
    const expiration = new Date(Date.now() + 120_000);
    const t = await mskIamSigner(async () => ({ ...CREDS, expiration }))('eu-west-1');
    expect(t.expiryTime).toBeLessThanOrEqual(expiration.getTime() + 1000);
    expect(Number(decode(t.token).searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(120);
  });
});

describe('MSK IAM token provider (kafkajs oauthBearerProvider)', () => {
  function fakeSigner(ttlMs: number, clock: { now: number }) {
    const calls: string[] = [];
    let n = 0;
    const signer = async (region: string): Promise<MskAuthToken> => {
      calls.push(region);
      n++;
      return { token: `token-${n}`, expiryTime: clock.now + ttlMs };
    };
    return { calls, signer };
  }

  it('reuses the token across connections and signs again refreshMarginMs before expiry', async () => {
    const clock = { now: 1_000_000 };
    const { calls, signer } = fakeSigner(900_000, clock);
    const provider = mskIamTokenProvider({
      region: 'eu-west-1',
      refreshMarginMs: 60_000,
      signer,
      now: () => clock.now,
    });
    expect(await provider()).toEqual({ value: 'token-1' });
    clock.now += 839_999; // 60 s + 1 ms before expiry: still the same token
    expect(await provider()).toEqual({ value: 'token-1' });
    clock.now += 1;
    expect(await provider()).toEqual({ value: 'token-2' });
    expect(calls).toEqual(['eu-west-1', 'eu-west-1']);
  });

  it('many connections authenticating at once share one signing', async () => {
    const clock = { now: 0 };
    const { calls, signer } = fakeSigner(900_000, clock);
    const provider = mskIamTokenProvider({
      region: 'us-east-1',
      refreshMarginMs: 1,
      signer,
      now: () => clock.now,
    });
    const tokens = await Promise.all(Array.from({ length: 5 }, () => provider()));
    expect(new Set(tokens.map((t) => t.value))).toEqual(new Set(['token-1']));
    expect(calls).toHaveLength(1);
  });

  it('no credentials -> a retriable MskIamAuthError naming the region; the next connection tries again', async () => {
    let fail = true;
    const provider = mskIamTokenProvider({
      region: 'eu-west-1',
      refreshMarginMs: 60_000,
      signer: async () => {
        if (fail) throw new Error('Could not load credentials from any providers');
        return { token: 'recovered', expiryTime: Date.now() + 900_000 };
      },
    });
    const err = await provider().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MskIamAuthError);
    expect(isRetriable(err)).toBe(true);
    expect((err as Error).message).toMatch(/eu-west-1.*Could not load credentials/);
    // Behind kafkajs' retrier the bus still reports our error, not an anonymous kafkajs one.
    const wrapped = Object.assign(new Error('retries exceeded'), {
      name: 'KafkaJSNumberOfRetriesExceeded',
      retriable: false,
      originalError: err,
    });
    expect(toBusError('produce', wrapped)).toBe(err);
    expect(toBusError('produce', wrapped)).not.toBeInstanceOf(BrokerUnavailableError);
    // kafkajs loses this error on its connection retry: the bus asks the provider for it.
    expect(provider.lastError).toBe(err);
    fail = false;
    expect(await provider()).toEqual({ value: 'recovered' });
    expect(provider.lastError).toBeNull();
  });

  it('a signer answer without a token is an error, not an empty token sent to the broker', async () => {
    const provider = mskIamTokenProvider({
      region: 'eu-west-1',
      refreshMarginMs: 1,
      signer: async () => ({ token: '', expiryTime: Number.NaN }),
    });
    await expect(provider()).rejects.toBeInstanceOf(MskIamAuthError);
  });
});

describe('MSK IAM region', () => {
  const brokers = ['b-1.mesh.abc123.c2.kafka.ap-southeast-2.amazonaws.com:9098'];
  it('configured > AWS_REGION > AWS_DEFAULT_REGION > broker host names', () => {
    expect(mskRegion({ awsRegion: 'eu-west-1', brokers }, { AWS_REGION: 'us-east-1' })).toBe('eu-west-1');
    expect(mskRegion({ awsRegion: '', brokers }, { AWS_REGION: 'us-east-1' })).toBe('us-east-1');
    expect(mskRegion({ awsRegion: '', brokers }, { AWS_DEFAULT_REGION: 'us-west-2' })).toBe('us-west-2');
    expect(mskRegion({ awsRegion: '', brokers }, {})).toBe('ap-southeast-2');
    expect(
      mskRegion(
        { awsRegion: '', brokers: ['boot-x.c1.kafka-serverless.eu-central-1.amazonaws.com:9098'] },
        {},
      ),
    ).toBe('eu-central-1');
  });
  it('no region anywhere is a configuration error naming the setting', () => {
    expect(() => mskRegion({ awsRegion: '', brokers: ['kafka-0.internal:9098'] }, {})).toThrow(ConfigError);
    expect(() => mskRegion({ awsRegion: '', brokers: ['kafka-0.internal:9098'] }, {})).toThrow(
      /MESH_APIM_BUS_KAFKA_AWS_REGION/,
    );
  });
});
