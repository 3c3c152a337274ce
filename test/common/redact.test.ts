import { describe, expect, it } from 'vitest';
import { maskLogFields, maskSecrets, maskUrlCredentials } from '../../common/redact.ts';

describe('maskUrlCredentials', () => {
  it.each([
    ['amqp://admin:s3cret@mq:5672', 'amqp://***@mq:5672'],
    ['https://elastic:p@ss@es:9200/_bulk', 'https://***@es:9200/_bulk'],
    ['https://token@host/x', 'https://***@host/x'],
    [
      'connect to https://u:p@h:1 failed; retry https://v:q@g',
      'connect to https://***@h:1 failed; retry https://***@g',
    ],
    ['https://apim:9443/path?user=a@b', 'https://apim:9443/path?user=a@b'],
    ['mail admin@example.com', 'mail admin@example.com'],
    ['https://apim:9443', 'https://apim:9443'],
  ])('%s', (input, masked) => {
    expect(maskUrlCredentials(input)).toBe(masked);
  });
});

describe('maskSecrets', () => {
  it('masks secret-named settings when set and URL user info anywhere; keeps ARNs and empty values', () => {
    const out = maskSecrets({
      apim: { url: 'https://a:pw-apim@apim:9443', password: 'pw', secretArn: 'arn:aws:secretsmanager:x' },
      bus: { kafka: { sslKey: '-----BEGIN', saslPassword: '', brokers: ['sasl://u:pw-broker@b:9092'] } },
    });
    expect(out).toEqual({
      apim: { url: 'https://***@apim:9443', password: '***', secretArn: 'arn:aws:secretsmanager:x' },
      bus: { kafka: { sslKey: '***', saslPassword: '', brokers: ['sasl://***@b:9092'] } },
    });
  });
});

describe('maskLogFields', () => {
  it('masks nested strings and errors, returns the same object when there is nothing to mask', () => {
    const clean = { a: 1, b: 'x', c: { d: ['y'] } };
    expect(maskLogFields(clean)).toBe(clean);
    const err = new Error('GET https://u:pw-err@h/x: 401');
    const out = maskLogFields({ err, nested: { list: ['amqp://u:pw-list@h'] }, authorization: 'Basic abc' });
    expect((out.err as Error).message).toBe('GET https://***@h/x: 401');
    expect((out.err as Error).stack).not.toContain('pw-err');
    expect(out.err).toBeInstanceOf(Error);
    expect(out.nested).toEqual({ list: ['amqp://***@h'] });
    expect(out.authorization).toBe('***');
    expect(err.message).toContain('pw-err'); // the caller's error is not modified
  });
});
