/**
 * A fake Elasticsearch `_bulk` endpoint on 127.0.0.1:0: stores documents by index/_id (so re-sends
 * overwrite, like the real one), and can be told to answer 429/5xx for the next requests or to reject
 * or throttle individual documents.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeBulk {
  url: string;
  docs: Map<string, Record<string, unknown>>;
  requests: number;
  /** Statuses to answer the next whole requests with (consumed in order). */
  failNext: number[];
  /** Retry-After header sent with those forced answers (absent: none). */
  retryAfter: string | undefined;
  /** Per-document status by document _id (the event id, dedupKey): a number = always, an array = consumed per attempt. */
  itemStatus: Map<string, number | number[]>;
  close(): Promise<void>;
}

export async function startFakeBulk(): Promise<FakeBulk> {
  const state = {
    docs: new Map<string, Record<string, unknown>>(),
    requests: 0,
    failNext: [] as number[],
    retryAfter: undefined as string | undefined,
    itemStatus: new Map<string, number | number[]>(),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests++;
      if (req.method !== 'POST' || req.url !== '/_bulk') {
        res.writeHead(404).end('{}');
        return;
      }
      const forced = state.failNext.shift();
      if (forced !== undefined) {
        res
          .writeHead(forced, {
            'content-type': 'application/json',
            ...(state.retryAfter !== undefined ? { 'retry-after': state.retryAfter } : {}),
          })
          .end('{"error":"forced"}');
        return;
      }
      const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean);
      const items: unknown[] = [];
      let errors = false;
      for (let i = 0; i < lines.length; i += 2) {
        const action = JSON.parse(lines[i]!).index as { _index: string; _id: string };
        const doc = JSON.parse(lines[i + 1]!) as Record<string, unknown>;
        const rule = state.itemStatus.get(action._id);
        let status = 201;
        if (typeof rule === 'number') status = rule;
        else if (Array.isArray(rule) && rule.length > 0) status = rule.shift()!;
        if (status >= 300) {
          errors = true;
          items.push({
            index: {
              _index: action._index,
              _id: action._id,
              status,
              error: {
                type: status === 429 ? 'es_rejected_execution_exception' : 'mapper_parsing_exception',
                reason: 'fake',
              },
            },
          });
        } else {
          state.docs.set(`${action._index}/${action._id}`, doc);
          items.push({ index: { _index: action._index, _id: action._id, status, result: 'created' } });
        }
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ took: 1, errors, items }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}
