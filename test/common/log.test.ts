import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, logFormat, loggerOptions } from '../../common/log.ts';

describe('logFormat', () => {
  it('pretty only for a terminal outside containers; MESH_APIM_LOG_FORMAT decides when set', () => {
    expect(logFormat({}, true, false)).toBe('pretty');
    expect(logFormat({}, false, false)).toBe('json');
    expect(logFormat({}, true, true)).toBe('json');
    expect(logFormat({ MESH_APIM_LOG_FORMAT: 'json' }, true, false)).toBe('json');
    expect(logFormat({ MESH_APIM_LOG_FORMAT: 'PRETTY' }, false, true)).toBe('pretty');
    expect(() => logFormat({ MESH_APIM_LOG_FORMAT: 'xml' }, true, false)).toThrow(/json or pretty/);
  });
});

describe('log records', () => {
  it('never carry URL user info or a secret-named field, in fields, bindings, errors or the message', () => {
    let out = '';
    const sink = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const log = pino({ ...loggerOptions, level: 'info' }, sink);
    log.info(
      {
        url: 'amqp://admin:pw-amqp@mq:5672',
        es: { url: 'https://elastic:pw-es@es:9200' },
        password: 'pw-field',
      },
      'connecting to https://apim:pw-msg@apim:9443',
    );
    log.warn({ err: new Error('request to https://a:pw-err@h failed') }, 'failed');
    expect(JSON.stringify(createLogger('t', { upstream: 'https://u:pw-bind@up' }).bindings())).toContain(
      'https://***@up',
    );
    for (const secret of ['pw-amqp', 'pw-es', 'pw-field', 'pw-msg', 'pw-err'])
      expect(out).not.toContain(secret);
    expect(out).toContain('amqp://***@mq:5672');
    expect(out).toContain('connecting to https://***@apim:9443');
  });
});
