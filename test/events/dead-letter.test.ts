import { describe, expect, it } from 'vitest';
import { DeadLetter, deadLetter, deadLetterId, originalOf } from '../../events/dead-letter.ts';

const base = {
  eventId: deadLetterId('analytics-publisher', 'mesh-apim.request-attributes.v1', 2, '41'),
  consumer: 'analytics-publisher',
  source: {
    topic: 'mesh-apim.request-attributes.v1',
    partition: 2,
    offset: '41',
    timestamp: 1_700_000_000_000,
  },
  now: new Date('2026-01-02T03:04:05.000Z'),
};

describe('dead-letter envelope builder', () => {
  it('builds a valid envelope with the fixed fields, in the envelope order', () => {
    const dl = deadLetter({
      ...base,
      original: originalOf(Buffer.from('k'), Buffer.from('{"x":1}'), { h: Buffer.from('v'), s: 'utf8 é' }),
      error: { stage: 'validate', code: 'SCHEMA', message: 'bad' },
    });
    expect(DeadLetter.parse(dl)).toEqual(dl);
    expect(Object.keys(dl)).toEqual([
      'type',
      'schemaVersion',
      'eventId',
      'occurredAt',
      'consumer',
      'source',
      'original',
      'error',
    ]);
    expect(dl).toMatchObject({
      type: 'dead-letter',
      schemaVersion: 1,
      eventId: 'dl:analytics-publisher:mesh-apim.request-attributes.v1:2:41',
      occurredAt: '2026-01-02T03:04:05.000Z',
      original: {
        key: Buffer.from('k').toString('base64'),
        value: Buffer.from('{"x":1}').toString('base64'),
        headers: { h: Buffer.from('v').toString('base64'), s: Buffer.from('utf8 é').toString('base64') },
      },
    });
    expect('details' in dl.error).toBe(false);
  });

  it('keeps error details when given and null key/value as null', () => {
    const dl = deadLetter({
      ...base,
      original: originalOf(null, null, {}),
      error: { stage: 'process', code: 'APIM_400', message: 'rejected', details: { body: 'no' } },
    });
    expect(dl.original).toEqual({ key: null, value: null, headers: {} });
    expect(dl.error).toEqual({
      stage: 'process',
      code: 'APIM_400',
      message: 'rejected',
      details: { body: 'no' },
    });
  });

  it('encodes a view into a larger buffer by its own bytes only', () => {
    const big = Buffer.from('xxhelloyy');
    expect(originalOf(big.subarray(2, 7), null, {}).key).toBe(Buffer.from('hello').toString('base64'));
  });
});
