import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromFile, Parser } from '@asyncapi/parser';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { allJsonSchemas, EVENT_SCHEMAS, renderSchema, SCHEMA_DIR } from '../../events/schemas.ts';
import { TOPICS } from '../../events/topics.ts';

const eventsDir = join(dirname(fileURLToPath(import.meta.url)), '../../events');
const samplesDir = join(eventsDir, 'samples');
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function ajv(): Ajv {
  return addFormats(new Ajv({ allErrors: true, strict: false }));
}

interface Sample {
  type: string;
  name: string;
  value: Record<string, unknown>;
}

function samples(): Sample[] {
  return readdirSync(samplesDir).flatMap((type) =>
    readdirSync(join(samplesDir, type))
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({
        type,
        name: `${type}/${f}`,
        value: JSON.parse(readFileSync(join(samplesDir, type, f), 'utf8')) as Record<string, unknown>,
      })),
  );
}

function topicOf(event: unknown) {
  return Object.values(TOPICS).find((t) => (t.schema as z.ZodType).safeParse(event).success);
}

describe('JSON Schemas (events/schemas/*.json)', () => {
  it('are current: `npm run events:schemas` was run after the last zod change', () => {
    const expected = allJsonSchemas();
    const onDisk = readdirSync(SCHEMA_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(onDisk).toEqual([...expected.keys()].sort());
    for (const [file, schema] of expected) {
      expect(readFileSync(join(SCHEMA_DIR, file), 'utf8'), file).toBe(renderSchema(schema));
    }
  });

  it('reject an event that the zod schema rejects (same contract)', () => {
    const validate = ajv().compile(JSON.parse(readFileSync(join(SCHEMA_DIR, 'token-revoked.json'), 'utf8')));
    const good = JSON.parse(readFileSync(join(samplesDir, 'token-revoked/token-revoked-jti.json'), 'utf8'));
    expect(validate(good)).toBe(true);
    for (const bad of [
      { ...good, kind: 'password' },
      { ...good, value: '' },
      { ...good, revokedAt: 'yesterday' },
      { ...good, schemaVersion: 2 },
    ]) {
      expect(validate(bad)).toBe(false);
      expect(EVENT_SCHEMAS['token-revoked'].safeParse(bad).success).toBe(false);
    }
    const deployed = JSON.parse(
      readFileSync(join(samplesDir, 'service-deployed/service-deployed-inline-openapi.json'), 'utf8'),
    );
    const validateDeployed = ajv().compile(
      JSON.parse(readFileSync(join(SCHEMA_DIR, 'service-deployed.json'), 'utf8')),
    );
    const noSlash = { ...deployed, api: { ...deployed.api, context: 'petstore/v1' } };
    expect(validateDeployed(deployed)).toBe(true);
    expect(validateDeployed(noSlash)).toBe(false);
    expect(EVENT_SCHEMAS['service-deployed'].safeParse(noSlash).success).toBe(false);
  });
});

describe('samples (events/samples/<event>/<case>.json)', () => {
  const all = samples();

  it('exist for every event type', () => {
    expect(new Set(all.map((s) => s.type))).toEqual(new Set(Object.keys(EVENT_SCHEMAS)));
  });

  it.each(all.map((s) => [s.name, s] as const))('%s is valid (zod, JSON Schema, topic key)', (_name, s) => {
    expect(s.value.type).toBe(s.type);
    const schema = EVENT_SCHEMAS[s.type as keyof typeof EVENT_SCHEMAS];
    const parsed = schema.parse(s.value);
    // zod strips unknown keys: equality proves the sample has no stray or misspelled field.
    expect(parsed).toEqual(s.value);
    const validate = ajv().compile(JSON.parse(readFileSync(join(SCHEMA_DIR, `${s.type}.json`), 'utf8')));
    expect(validate(s.value), JSON.stringify(validate.errors)).toBe(true);
    const topic = topicOf(s.value);
    expect(topic, `a topic carries ${s.type}`).toBeDefined();
    expect(topic!.schema.parse(s.value)).toEqual(s.value);
    expect(typeof topic!.key(parsed as never)).toBe('string');
  });
});

describe('AsyncAPI document (events/asyncapi.yaml)', async () => {
  const { document, diagnostics } = await fromFile(new Parser(), join(eventsDir, 'asyncapi.yaml')).parse();

  it('parses with the AsyncAPI parser without errors or warnings', () => {
    // Severities: 0 error, 1 warning, 2 info, 3 hint.
    expect(
      diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} @ ${d.path.join('.')}`),
    ).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toMatch(/^3\./);
  });

  it('has a channel for every topic in events/topics.ts, with a Kafka binding and a documented key', () => {
    const channels = new Map(
      document!
        .channels()
        .all()
        .map((c) => [c.address(), c]),
    );
    for (const topic of Object.values(TOPICS)) {
      const channel = channels.get(topic.name);
      expect(channel, topic.name).toBeDefined();
      expect(channel!.bindings().get('kafka')?.value()).toMatchObject({ topic: topic.name });
      const messages = channel!.messages().all();
      expect(messages.length, topic.name).toBeGreaterThan(0);
      for (const m of messages) {
        expect(m.bindings().get('kafka')?.value()).toHaveProperty('key');
        expect(m.description() ?? '').toMatch(/Partition key/);
      }
    }
    expect(channels.size).toBe(Object.keys(TOPICS).length);
  });

  it('message payloads are the generated JSON Schemas, and every sample validates against its message', () => {
    const byName = new Map(
      document!
        .messages()
        .all()
        .map((m) => [m.name(), m]),
    );
    const schemas = allJsonSchemas();
    for (const type of Object.keys(EVENT_SCHEMAS)) {
      const m = byName.get(type);
      expect(m, `message ${type}`).toBeDefined();
      const payload = m!.payload()!.json() as Record<string, unknown>;
      const schema = (payload.schema ?? payload) as Record<string, unknown>;
      expect(schema.$id).toBe(schemas.get(`${type}.json`)!.$id);
    }
    for (const s of samples()) {
      const payload = byName.get(s.type)!.payload()!.json() as Record<string, unknown>;
      const validate = ajv().compile((payload.schema ?? payload) as Record<string, unknown>);
      expect(validate(s.value), s.name).toBe(true);
    }
  });
});
