/** `mesh-apim replay` output: the dry-run summary and `-o json` (the replay itself: test/functions/runner). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EMBEDDED_BUS_DEFAULTS } from '../../../bus/config.ts';
import { EmbeddedBus } from '../../../bus/embedded/index.ts';
import { topicSpecs } from '../../../bus/topics.ts';
import { run } from '../../../cli/commands/replay.ts';
import { TOPICS } from '../../../events/topics.ts';
import { requestAttributes } from '../../functions/fixtures.ts';

const FROM = '2026-11-26T00:00:00Z';
const TO = '2026-11-26T01:00:00Z';
let dataDir: string;
let out = '';

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'replay-cli-'));
  vi.stubEnv('DATA_DIR', dataDir);
  vi.stubEnv('KAFKA_BROKERS', '');
  vi.stubEnv('MESH_APIM_FUNCTIONS_ANALYTICS_FILE_FSYNC', 'false');
  const bus = new EmbeddedBus({ ...EMBEDDED_BUS_DEFAULTS, dir: join(dataDir, 'bus') });
  await bus.ensureTopics(topicSpecs(''));
  const base = Date.parse(FROM);
  await bus.produce(
    TOPICS.requestAttributes.name,
    [0, 1, 2].map((i) => {
      const e = requestAttributes({ requestId: `dry-${i}` });
      return { key: e.requestId, value: JSON.stringify(e), timestamp: base + i * 60_000 };
    }),
  );
  await bus.close();
  out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('mesh-apim replay output', () => {
  it('--dry-run never claims to have published: it says what a real run would publish', async () => {
    expect(await run(['--from', FROM, '--to', TO, '--dry-run'])).toBe(0);
    expect(out).toContain('(dry run: nothing published)');
    expect(out).toMatch(/ {2}would publish: {3}3\n/);
    expect(out).not.toMatch(/^ {2}published:/m);
  });

  it('-o json prints one document; a dry run publishes 0 and would publish 3', async () => {
    expect(await run(['--from', FROM, '--to', TO, '--dry-run', '-o', 'json'])).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      from: '2026-11-26T00:00:00.000Z',
      to: '2026-11-26T01:00:00.000Z',
      topic: TOPICS.requestAttributes.name,
      dryRun: true,
      sinks: [],
      read: 3,
      published: 0,
      wouldPublish: 3,
      deadLettered: 0,
    });
  });

  it('a bad -o is a usage error (exit 2)', async () => {
    expect(await run(['--from', FROM, '--to', TO, '-o', 'yaml'])).toBe(2);
  });
});
