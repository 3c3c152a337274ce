/**
 * The Lambda entry of a definition (functions/lib/lambda.ts): the deps-lifecycle middleware builds
 * deps and core once per warm container and again after a failed build; the error-logging middleware
 * logs a failed invocation once and lets the error fail it; a schedule invocation runs tick().
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../bus/memory.ts';
import { loadConfig } from '../../../common/config/index.ts';
import { MeshApimError } from '../../../common/errors.ts';
import type { RequestAttributes } from '../../../events/request-attributes.ts';
import { TOPICS } from '../../../events/topics.ts';
import {
  BatchRetryError,
  buildLambdaKafkaEvent,
  busDeps,
  defineFunction,
  type FunctionDeps,
  inRecordsFromValues,
  lambdaHandler,
} from '../../../functions/lib/index.ts';
import { requestAttributes } from '../fixtures.ts';

const config = loadConfig({ env: {} });

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  return { lines, logger };
}

/** A definition counting how often its core is built; `fail` makes process throw that error. */
function counting(fail: { error: Error | null } = { error: null }) {
  const built: FunctionDeps[] = [];
  let ticks = 0;
  const definition = defineFunction<RequestAttributes>({
    name: 'test-fn',
    description: 'test',
    topics: [TOPICS.requestAttributes],
    idempotency: 'test',
    create(deps) {
      built.push(deps);
      return {
        async process(records) {
          if (fail.error) throw fail.error;
          return records.map(() => ({ status: 'ok' as const }));
        },
        async tick() {
          ticks += 1;
          return 7;
        },
      };
    },
  });
  return { definition, built, ticks: () => ticks };
}

const batch = (n: number) =>
  buildLambdaKafkaEvent(
    inRecordsFromValues(
      TOPICS.requestAttributes.name,
      Array.from({ length: n }, (_, i) => requestAttributes({ requestId: `r-${i}` })),
    ),
    { shape: 'msk' },
  );

describe('lambdaHandler', () => {
  it('builds the deps and the core on the first invocation and reuses them while warm', async () => {
    const { logger } = capture();
    const deps = busDeps(new MemoryBus(), config, logger);
    let depsCalls = 0;
    const { definition, built } = counting();
    const handler = lambdaHandler(definition, () => {
      depsCalls += 1;
      return deps;
    });
    const first = await handler(batch(3), { awsRequestId: 'a' });
    const second = await handler(batch(2), { awsRequestId: 'b' });
    expect(first).toMatchObject({ records: 3, processed: 3 });
    expect(second).toMatchObject({ records: 2, processed: 2 });
    expect(depsCalls).toBe(2);
    expect(built).toEqual([deps]);
  });

  it('a failed deps build fails the invocation, is logged, and the next invocation builds again', async () => {
    const { lines, logger } = capture();
    const deps = busDeps(new MemoryBus(), config, logger);
    const { definition, built } = counting();
    let attempt = 0;
    const handler = lambdaHandler(
      definition,
      async () => {
        attempt += 1;
        if (attempt === 1) throw new MeshApimError('SECRET_UNAVAILABLE', 'secret down', { retriable: true });
        return deps;
      },
      { logger },
    );
    await expect(handler(batch(1), { awsRequestId: 'cold' })).rejects.toThrow(/secret down/);
    expect(lines.filter((l) => l.msg === 'invocation failed; Lambda retries the batch')).toEqual([
      expect.objectContaining({
        function: 'test-fn',
        requestId: 'cold',
        code: 'SECRET_UNAVAILABLE',
        retriable: true,
      }),
    ]);
    expect(await handler(batch(1), { awsRequestId: 'warm' })).toMatchObject({ records: 1, processed: 1 });
    expect(built).toHaveLength(1);
  });

  it('a retriable batch failure is logged once with the request id and fails the invocation', async () => {
    const { lines, logger } = capture();
    const fail = { error: new MeshApimError('DOWN', 'sink down', { retriable: true }) as Error | null };
    const { definition } = counting(fail);
    const handler = lambdaHandler(definition, () => busDeps(new MemoryBus(), config, logger));
    await expect(handler(batch(2), { awsRequestId: 'req-1' })).rejects.toBeInstanceOf(BatchRetryError);
    const failed = lines.filter((l) => String(l.msg).startsWith('invocation failed'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ function: 'test-fn', requestId: 'req-1', retriable: true, level: 40 });
  });

  it('a non-retriable failure is logged at error level', async () => {
    const { lines, logger } = capture();
    const { definition } = counting();
    const handler = lambdaHandler(
      {
        ...definition,
        create: () => {
          throw new MeshApimError('CONFIG_INVALID', 'bad mapping');
        },
      },
      () => busDeps(new MemoryBus(), config, logger),
      // The core failed to build, so the deps' logger is not handed over: the fallback logs.
      { logger },
    );
    await expect(handler(batch(1), { awsRequestId: 'x' })).rejects.toThrow(/bad mapping/);
    expect(lines.filter((l) => l.msg === 'invocation failed')).toEqual([
      expect.objectContaining({ code: 'CONFIG_INVALID', retriable: false, level: 50 }),
    ]);
  });

  it('an EventBridge schedule invocation runs tick()', async () => {
    const { logger } = capture();
    const { definition, ticks } = counting();
    const handler = lambdaHandler(definition, () => busDeps(new MemoryBus(), config, logger));
    expect(await handler({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toEqual({
      scheduled: true,
      published: 7,
    });
    expect(ticks()).toBe(1);
  });
});
