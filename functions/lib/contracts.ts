/**
 * Topic wire name -> its events/ contract, and record value -> validated event.
 *
 * Validation at the trust boundary has two paths: the compiled ajv fast path of events/fast-validator.ts
 * for a well-formed record (used as parsed), and zod for anything it rejects, which gives the full
 * error (poison) or the canonical value (e.g. unknown keys stripped).
 */
import type { z } from 'zod';
import type { InRecord } from '../../bus/types.ts';
import { fastValidator } from '../../events/fast-validator.ts';
import { TOPICS, type TopicContract } from '../../events/topics.ts';
import { RecordDecodeError, RecordSchemaError } from './errors.ts';

const ALL_CONTRACTS = Object.values(TOPICS) as TopicContract[];
const byWireName = new Map<string, TopicContract | undefined>();

/** The contract of a wire topic name, with or without the configured prefix; undefined when unknown. */
export function contractForTopic(topic: string, prefix = ''): TopicContract | undefined {
  const key = `${prefix}\u0000${topic}`;
  if (byWireName.has(key)) return byWireName.get(key);
  const bare = prefix && topic.startsWith(prefix) ? topic.slice(prefix.length) : topic;
  const found = ALL_CONTRACTS.find((t) => t.name === bare || t.name === topic);
  if (byWireName.size < 1000) byWireName.set(key, found); // bounded: topic names come from records
  return found;
}

/** UTF-8 JSON of the record value. Throws RecordDecodeError (poison). */
export function decodeJsonValue(record: InRecord): unknown {
  if (record.value === null) throw new RecordDecodeError('record has no value (tombstone)');
  const text = record.value.toString('utf8');
  // A lossy decode replaces bad bytes with U+FFFD: treat that as corrupt rather than publish garbage.
  if (text.includes('\uFFFD') && !Buffer.from(text, 'utf8').equals(record.value)) {
    throw new RecordDecodeError('record value is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new RecordDecodeError(`record value is not JSON: ${(cause as Error).message}`, { cause });
  }
}

/** Parses and validates a record value against a schema. Throws RecordDecodeError / RecordSchemaError. */
export function validateRecord<S extends z.ZodType>(record: InRecord, schema: S): z.infer<S> {
  const json = decodeJsonValue(record);
  if (fastValidator(schema)?.(json)) return json as z.infer<S>;
  const result = schema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 20)
      .map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0];
    throw new RecordSchemaError(
      `value does not match the ${record.topic} schema${first ? `: ${first.path || '(root)'}: ${first.message}` : ''}`,
      { issues },
    );
  }
  return result.data;
}
