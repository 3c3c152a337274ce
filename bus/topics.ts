/**
 * Topic definitions: infra/topics.yaml (operational settings by logical name) joined with the contracts
 * in events/topics.ts (wire name, schema, key). Both sides must name the same topics.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../common/errors.ts';
import { packageFile } from '../common/package-root.ts';
import { TOPICS, type TopicContract, topicName } from '../events/topics.ts';
import type { TopicSpec } from './types.ts';

export const TOPICS_FILE = packageFile('infra/topics.yaml');

const Definition = z.strictObject({
  partitions: z.number().int().positive(),
  retentionMs: z.number().int().min(-1),
  retentionBytes: z.number().int().min(-1).default(-1),
  cleanupPolicy: z.enum(['delete', 'compact']),
});

const TopicsFile = z.strictObject({ topics: z.record(z.string(), Definition) });

export interface TopicDefinition extends TopicSpec {
  logical: string;
  contract: TopicContract;
}

/** Every topic with its wire name (prefixed) and settings; throws ConfigError naming what does not match. */
export function loadTopicDefinitions(prefix = '', file = TOPICS_FILE): TopicDefinition[] {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`topic definitions ${file}: cannot read or parse`, { cause });
  }
  const result = TopicsFile.safeParse(parsed);
  if (!result.success) {
    throw new ConfigError(`topic definitions ${file}:\n${z.prettifyError(result.error)}`);
  }
  const defs = result.data.topics;
  const contracts = Object.values(TOPICS) as TopicContract[];
  const known = new Set(contracts.map((c) => c.logical));
  const undefinedTopics = contracts.filter((c) => !defs[c.logical]).map((c) => c.logical);
  const unknown = Object.keys(defs).filter((k) => !known.has(k));
  if (undefinedTopics.length > 0 || unknown.length > 0) {
    throw new ConfigError(
      `topic definitions ${file} do not match events/topics.ts:` +
        (undefinedTopics.length ? ` no definition for ${undefinedTopics.join(', ')};` : '') +
        (unknown.length ? ` no contract for ${unknown.join(', ')};` : ''),
    );
  }
  return contracts.map((c) => {
    const d = defs[c.logical]!;
    return {
      logical: c.logical,
      contract: c,
      name: topicName(c, prefix),
      partitions: d.partitions,
      retentionMs: d.retentionMs,
      retentionBytes: d.retentionBytes,
      cleanupPolicy: d.cleanupPolicy,
    };
  });
}

/** Just the TopicSpecs (what Bus.ensureTopics takes). */
export function topicSpecs(prefix = '', file = TOPICS_FILE): TopicSpec[] {
  return loadTopicDefinitions(prefix, file).map(
    ({ name, partitions, retentionMs, retentionBytes, cleanupPolicy }) => ({
      name,
      partitions,
      retentionMs,
      retentionBytes,
      cleanupPolicy,
    }),
  );
}
