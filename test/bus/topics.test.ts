import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { EMBEDDED_BUS_DEFAULTS } from '../../bus/config.ts';
import { EmbeddedBus } from '../../bus/embedded/index.ts';
import { loadTopicDefinitions, TOPICS_FILE, topicSpecs } from '../../bus/topics.ts';
import { run } from '../../cli/commands/topics.ts';
import { ConfigError } from '../../common/errors.ts';
import { TOPICS } from '../../events/topics.ts';

describe('topic definitions (infra/topics.yaml joined with events/topics.ts)', () => {
  it('every contract has a definition and every definition a contract', () => {
    const defs = loadTopicDefinitions();
    expect(defs.map((d) => d.logical).sort()).toEqual(
      Object.values(TOPICS)
        .map((t) => t.logical)
        .sort(),
    );
    expect(defs.find((d) => d.logical === 'dead-letter')?.name).toBe(TOPICS.deadLetter.name);
  });

  it('applies the prefix to wire names', () => {
    expect(topicSpecs('acme.').map((s) => s.name)).toContain(`acme.${TOPICS.requestAttributes.name}`);
  });

  const dir = mkdtempSync(join(tmpdir(), 'topics-'));
  afterEach(() => vi.restoreAllMocks());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the topic missing from the file and the definition without a contract', () => {
    const text = readFileSync(TOPICS_FILE, 'utf8').replace(/^ {2}dead-letter:/m, '  dead-letters:');
    const file = join(dir, 'mismatch.yaml');
    writeFileSync(file, text);
    expect(() => loadTopicDefinitions('', file)).toThrow(ConfigError);
    expect(() => loadTopicDefinitions('', file)).toThrow(
      /no definition for dead-letter.*no contract for dead-letters/,
    );
  });

  it('the real command runs under Node (ESM + CommonJS kafkajs) and prints the plan', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'topics-bin-'));
    try {
      const out = execFileSync(process.execPath, ['bin/mesh-apim.js', 'topics', 'apply', '--dry-run'], {
        env: { ...process.env, DATA_DIR: dataDir, KAFKA_BROKERS: '' },
        encoding: 'utf8',
      });
      expect(out).toContain(
        `would create  ${TOPICS.tokenRevoked.name} (partitions=3 retention=forever cleanup=compact)`,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('rejects a bad setting with its path', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, readFileSync(TOPICS_FILE, 'utf8').replace('partitions: 6', 'partitions: 0'));
    expect(() => loadTopicDefinitions('', file)).toThrow(/at topics\["request-attributes"\]\.partitions/);
  });

  it('`topics apply` creates on the embedded log, is idempotent, reports drift; `--dry-run` changes nothing', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'topics-cli-'));
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      lines.push(String(s));
      return true;
    });
    vi.stubEnv('DATA_DIR', dataDir);
    vi.stubEnv('KAFKA_BROKERS', '');
    try {
      expect(await run(['apply', '--dry-run'])).toBe(0);
      expect(lines.filter((l) => l.startsWith('would create'))).toHaveLength(Object.keys(TOPICS).length);
      lines.length = 0;
      expect(await run(['list'])).toBe(0);
      expect(lines).toEqual([]);
      expect(await run(['apply'])).toBe(0);
      expect(lines.filter((l) => l.startsWith('create '))).toHaveLength(Object.keys(TOPICS).length);
      lines.length = 0;
      expect(await run(['apply'])).toBe(0);
      expect(lines.filter((l) => l.startsWith('ok '))).toHaveLength(Object.keys(TOPICS).length);
      lines.length = 0;
      expect(await run(['list'])).toBe(0);
      expect(lines.join('')).toContain(`${TOPICS.requestAttributes.name}  partitions=6 retention=7d`);
      expect(lines.join('')).toContain(`${TOPICS.tokenRevoked.name}  partitions=3 retention=forever`);
      // Drift: an existing topic with other settings is reported, not changed, and fails the command.
      const bus = new EmbeddedBus({ ...EMBEDDED_BUS_DEFAULTS, dir: join(dataDir, 'bus') });
      await bus.ensureTopics([
        { name: `x.${TOPICS.deadLetter.name}`, partitions: 1, retentionMs: -1, cleanupPolicy: 'delete' },
      ]);
      await bus.close();
      vi.stubEnv('MESH_APIM_BUS_TOPIC_PREFIX', 'x.');
      lines.length = 0;
      expect(await run(['apply'])).toBe(3);
      expect(lines.join('')).toMatch(
        /DIFFERS {2}x\.mesh-apim\.dead-letter\.v1: partitions 1 \(want 3\), retention forever \(want 14d\)/,
      );
    } finally {
      vi.unstubAllEnvs();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
