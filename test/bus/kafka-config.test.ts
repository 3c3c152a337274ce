import { describe, expect, it } from 'vitest';
import { BrokerUnavailableError, TopicError } from '../../bus/errors.ts';
import { kafkaClientConfig, toBusError } from '../../bus/kafka/index.ts';
import { loadConfig } from '../../common/config/index.ts';
import { ConfigError } from '../../common/errors.ts';
import { createLogger } from '../../common/log.ts';

const base = () => loadConfig({ env: { KAFKA_BROKERS: '127.0.0.1:1' } }).bus.kafka;
const log = createLogger('test');

describe('kafka client configuration', () => {
  it('plain settings: brokers, client id, timeouts, retries, our logger', () => {
    const c = kafkaClientConfig(base(), log);
    expect(c).toMatchObject({
      brokers: ['127.0.0.1:1'],
      clientId: 'mesh-apim',
      ssl: false,
      connectionTimeout: 3000,
    });
    expect(c.sasl).toBeUndefined();
    expect(c.retry?.retries).toBe(5);
    expect(typeof c.logCreator).toBe('function');
  });

  it.each(['plain', 'scram-sha-256', 'scram-sha-512'] as const)('SASL %s with TLS', (mechanism) => {
    const c = kafkaClientConfig(
      { ...base(), ssl: true, saslMechanism: mechanism, saslUsername: 'u', saslPassword: 'p' },
      log,
    );
    expect(c.ssl).toBe(true);
    expect(c.sasl).toEqual({ mechanism, username: 'u', password: 'p' });
  });

  it('SASL without credentials is a configuration error', () => {
    expect(() => kafkaClientConfig({ ...base(), saslMechanism: 'plain' }, log)).toThrow(/saslUsername/);
    expect(() => kafkaClientConfig({ ...base(), saslMechanism: 'plain' }, log)).toThrow(ConfigError);
  });

  it('MSK IAM: SASL/OAUTHBEARER whose provider returns the signed token (bus/kafka/msk-iam.ts)', async () => {
    const regions: string[] = [];
    const c = kafkaClientConfig({ ...base(), ssl: true, saslMechanism: 'aws', awsRegion: 'eu-west-1' }, log, {
      mskSigner: async (region) => {
        regions.push(region);
        return { token: 'signed-token', expiryTime: Date.now() + 900_000 };
      },
    });
    expect(c.sasl?.mechanism).toBe('oauthbearer');
    const provider = (c.sasl as { oauthBearerProvider: () => Promise<{ value: string }> })
      .oauthBearerProvider;
    expect(regions).toEqual([]); // nothing signed before kafkajs authenticates
    expect(await provider()).toEqual({ value: 'signed-token' });
    expect(regions).toEqual(['eu-west-1']);
  });
});

describe('kafka errors', () => {
  const named = (name: string, props: Record<string, unknown> = {}, cause?: unknown) =>
    Object.assign(new Error(name), { name, cause, ...props });

  it('an unreachable broker is retriable, also behind "retries exceeded"', () => {
    const conn = named('KafkaJSConnectionError', { retriable: true });
    expect(toBusError('produce', conn)).toBeInstanceOf(BrokerUnavailableError);
    const exceeded = named('KafkaJSNumberOfRetriesExceeded', { retriable: false }, conn);
    const e = toBusError('produce', exceeded);
    expect(e).toBeInstanceOf(BrokerUnavailableError);
    expect(e.retriable).toBe(true);
  });

  it('a non-retriable protocol error is not retriable; an unknown topic is a TopicError', () => {
    const tooLarge = named('KafkaJSProtocolError', { retriable: false, type: 'MESSAGE_TOO_LARGE' });
    expect(toBusError('produce', tooLarge).retriable).toBe(false);
    const unknown = named('KafkaJSProtocolError', { retriable: false, type: 'UNKNOWN_TOPIC_OR_PARTITION' });
    expect(toBusError('produce', unknown)).toBeInstanceOf(TopicError);
  });

  it('TLS options: CA and client certificate become tls.connect options; inconsistent settings fail', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----';
    expect(kafkaClientConfig({ ...base(), ssl: true }, log).ssl).toBe(true);
    expect(kafkaClientConfig({ ...base(), ssl: true, sslCa: pem }, log).ssl).toEqual({ ca: [pem] });
    expect(() => kafkaClientConfig({ ...base(), sslCa: pem }, log)).toThrow(/ssl is false/);
    expect(() => kafkaClientConfig({ ...base(), ssl: true, sslCert: pem }, log)).toThrow(/set together/);
  });
});
