/**
 * JSON Schema export of every event, for consumers that do not run our TypeScript (and for the
 * AsyncAPI document, which references events/schemas/<event>.json). Generated from the zod schemas
 * by `npm run events:schemas`; a test fails when the committed files are stale.
 *
 * Draft-07 because the AsyncAPI 3.0 tooling understands it. Exported in zod's `input` mode so that
 * objects do not get `additionalProperties: false`: adding an optional field is a compatible change
 * within a topic version and consumers validating with these schemas must tolerate it.
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AnalyticsEvent } from './analytics.ts';
import { ControlPlaneChanged } from './control-plane-changed.ts';
import { DeadLetter } from './dead-letter.ts';
import { RequestAttributes } from './request-attributes.ts';
import { ServiceDeleted, ServiceDeployed, ServiceLifecycle } from './service-lifecycle.ts';
import { ThrottleCounts } from './throttle-counts.ts';
import { TokenRevoked } from './token-revoked.ts';
import { TOPICS, type TopicKey } from './topics.ts';
import { Usage } from './usage.ts';
import { UsageMeterState } from './usage-meter-state.ts';

/**
 * Every event type by its `type` value (also the samples directory and the schema file name).
 * A new event: add it here and to TOPICS, then `npm run events:schemas`.
 */
export const EVENT_SCHEMAS = {
  'request-attributes': RequestAttributes,
  'service-deployed': ServiceDeployed,
  'service-deleted': ServiceDeleted,
  'token-revoked': TokenRevoked,
  'control-plane-changed': ControlPlaneChanged,
  'dead-letter': DeadLetter,
  'apim-analytics': AnalyticsEvent,
  usage: Usage,
  'usage-meter-state': UsageMeterState,
  'throttle-counts': ThrottleCounts,
} satisfies Record<string, z.ZodType>;

export type EventType = keyof typeof EVENT_SCHEMAS;

/** Topic payload schemas that are a union of several events get their own file too. */
const EXTRA_SCHEMAS = { 'service-lifecycle': ServiceLifecycle } satisfies Record<string, z.ZodType>;

export const SCHEMA_DIR = fileURLToPath(new URL('./schemas/', import.meta.url));
const SCHEMA_ID_BASE = 'https://mesh-apim.dev/events/schemas/';

export function jsonSchemaOf(name: string, schema: z.ZodType): Record<string, unknown> {
  const js = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  const { $schema, ...rest } = js;
  return { $schema, $id: `${SCHEMA_ID_BASE}${name}.json`, title: name, ...rest };
}

/** File name -> JSON Schema for every event and union payload. */
export function allJsonSchemas(): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const [name, schema] of Object.entries({ ...EVENT_SCHEMAS, ...EXTRA_SCHEMAS })) {
    out.set(`${name}.json`, jsonSchemaOf(name, schema));
  }
  return out;
}

/** The schema file describing a topic's payload (its logical name). */
export function topicSchemaFile(key: TopicKey): string {
  return `${TOPICS[key].logical}.json`;
}

export function renderSchema(schema: Record<string, unknown>): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Writes events/schemas/*.json; returns the files whose content changed. */
export function writeJsonSchemas(dir = SCHEMA_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const changed: string[] = [];
  for (const [file, schema] of allJsonSchemas()) {
    const path = join(dir, file);
    const text = renderSchema(schema);
    let current: string | null = null;
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // absent: written below
    }
    if (current !== text) {
      writeFileSync(path, text);
      changed.push(file);
    }
  }
  return changed;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const changed = writeJsonSchemas();
  process.stdout.write(changed.length ? `updated: ${changed.join(', ')}\n` : 'schemas up to date\n');
}
