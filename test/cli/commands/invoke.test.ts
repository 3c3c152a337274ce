import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run, toLambdaEvent } from '../../../cli/commands/invoke.ts';
import { TOPICS } from '../../../events/topics.ts';
import { SAMPLES_DIR } from '../../../functions/analytics-publisher/samples.ts';
import { decodeKafkaEvent } from '../../../functions/lib/index.ts';
import { loadFunction } from '../../../functions/registry.ts';
import { requestAttributes } from '../../functions/fixtures.ts';

let dir: string;
let out = '';
let err = '';
const saved = { out: process.stdout.write, err: process.stderr.write, env: { ...process.env } };

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-invoke-'));
  process.env.DATA_DIR = dir;
  process.env.MESH_APIM_FUNCTIONS_ANALYTICS_FILE_FSYNC = 'false';
  out = '';
  err = '';
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    err += s;
    return true;
  }) as typeof process.stderr.write;
});
afterEach(() => {
  process.stdout.write = saved.out;
  process.stderr.write = saved.err;
  process.env = { ...saved.env };
  rmSync(dir, { recursive: true, force: true });
});

describe('mesh-apim invoke', () => {
  it('runs the handler on a Lambda-shaped sample and prints the summary', async () => {
    const code = await run([
      'analytics-publisher',
      '--event',
      path.join(SAMPLES_DIR, 'batch-with-poison.msk.json'),
      '--dry-run',
    ]);
    expect(err).not.toMatch(/mesh-apim invoke:/);
    expect(code).toBe(0);
    const summary = JSON.parse(out);
    expect(summary).toMatchObject({ records: 4, processed: 2, deadLettered: 2 });
    expect(summary.deadLetters).toHaveLength(2);
    expect(
      readFileSync(path.join(dir, 'analytics', 'apim_metrics.log'), 'utf8')
        .split('\n')
        .filter(Boolean),
    ).toHaveLength(2);
  });

  it('wraps a plain event (or an array of them) on the function topic', async () => {
    const fn = (await loadFunction('analytics-publisher'))!;
    const ev = requestAttributes({ requestId: 'plain-1' });
    const lambda = toLambdaEvent([ev, ev], fn);
    const [d] = decodeKafkaEvent(lambda);
    expect(d?.ok && d.record.topic).toBe(TOPICS.requestAttributes.name);
    expect(d?.ok && d.record.key?.toString()).toBe('plain-1');
    const file = path.join(dir, 'plain.json');
    writeFileSync(file, JSON.stringify(ev));
    expect(await run(['analytics-publisher', '--event', file])).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ records: 1, processed: 1 });
  });

  it('bad arguments exit 2 with a clear message', async () => {
    expect(await run(['nope', '--event', 'x.json'])).toBe(2);
    expect(err).toMatch(/unknown function "nope"/);
    expect(await run(['analytics-publisher'])).toBe(2);
    expect(err).toMatch(/required option '--event <file>' not specified/);
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ hello: 'world' }));
    expect(await run(['analytics-publisher', '--event', file])).toBe(2);
    expect(err).toMatch(/neither a Lambda Kafka event/);
    writeFileSync(file, JSON.stringify({ eventSource: 'aws:sqs', records: {} }));
    expect(await run(['analytics-publisher', '--event', file])).toBe(2);
    expect(err).toMatch(/eventSource must be/);
  });

  it('importing the Lambda entry point connects to nothing', async () => {
    const mod = await import('../../../functions/analytics-publisher/handler.ts');
    expect(typeof mod.handler).toBe('function');
  });
});
