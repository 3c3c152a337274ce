import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { STANDALONE_SCHEMA_FILE, standaloneJsonSchema } from '../../../adapter/standalone/schema.ts';

describe('config/standalone.schema.json', () => {
  it('is current: `npm run schemas:standalone` was run after the last change of the zod schema', () => {
    expect(readFileSync(STANDALONE_SCHEMA_FILE, 'utf8')).toBe(standaloneJsonSchema());
  });

  it('accepts the shipped standalone file and rejects an unknown key, as the adapter does', () => {
    const validate = new Ajv({ strict: false }).compile(JSON.parse(standaloneJsonSchema()));
    const shipped = parse(readFileSync('config/standalone.yaml', 'utf8'));
    expect(validate(shipped), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...shipped, aplications: [] })).toBe(false);
  });

  it('the shipped file names the schema for editors', () => {
    expect(readFileSync('config/standalone.yaml', 'utf8')).toMatch(
      /^# yaml-language-server: \$schema=\.\/standalone\.schema\.json\n/,
    );
  });
});
