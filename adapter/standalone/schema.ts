/**
 * The JSON Schema of a standalone control-plane file (config/standalone.schema.json), generated from
 * the zod schema the adapter validates with, for editors (yaml-language-server reads the modeline at
 * the top of config/standalone.yaml). `npm run schemas:standalone` rewrites it; a test fails when the
 * committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ControlPlaneData } from '../snapshot/model.ts';

export const STANDALONE_SCHEMA_FILE = fileURLToPath(
  new URL('../../config/standalone.schema.json', import.meta.url),
);

/** Draft-07 (what editors' YAML tooling understands best), `input` mode: defaults make fields optional. */
export function standaloneJsonSchema(): string {
  const js = z.toJSONSchema(ControlPlaneData, { target: 'draft-7', io: 'input' }) as Record<string, unknown>;
  const { $schema, ...rest } = js;
  const doc = {
    $schema,
    $id: 'https://mesh-apim.dev/config/standalone.schema.json',
    title: 'mesh-apim standalone control plane',
    description:
      'APIs, applications, subscriptions, key mappings, policies and key issuers of the standalone control plane (adapter.standaloneFile and <dataDir>/standalone.d/*.yaml).',
    ...rest,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const text = standaloneJsonSchema();
  let current = '';
  try {
    current = readFileSync(STANDALONE_SCHEMA_FILE, 'utf8');
  } catch {
    // absent: written below
  }
  if (current !== text) writeFileSync(STANDALONE_SCHEMA_FILE, text);
  process.stdout.write(`${STANDALONE_SCHEMA_FILE}: ${current === text ? 'unchanged' : 'written'}\n`);
}
