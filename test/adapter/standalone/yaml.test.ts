/** The standalone files' fast YAML path (js-yaml) reads every value as `yaml` (YAML 1.2 core) did. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORE_SCHEMA, DEFAULT_SCHEMA, load } from 'js-yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadStandaloneData } from '../../../adapter/standalone/source.ts';
import { parseStandaloneYaml, YAML_1_2_CORE } from '../../../adapter/standalone/yaml.ts';

// Plain scalars where YAML 1.1, js-yaml's schemas and YAML 1.2 core disagree somewhere.
const SCALARS = [
  'on',
  'off',
  'yes',
  'no',
  'y',
  'n',
  'true',
  'True',
  'TRUE',
  'false',
  'FALSE',
  'tRue',
  'null',
  'Null',
  'NULL',
  '~',
  'nUll',
  '2026-01-01',
  '2026-01-01T10:00:00Z',
  '2026-01-01 10:00:00',
  '012',
  '08',
  '0o12',
  '0o8',
  '0x1F',
  '0xg',
  '0b101',
  '+0x1',
  '-0x1',
  '-0o7',
  '1_000',
  '1:20',
  '1e3',
  '1E+3',
  '12e03',
  '.5',
  '+.5',
  '-.5',
  '1.',
  '0012.5',
  '.inf',
  '-.Inf',
  '+.INF',
  '.NaN',
  '.nan',
  '+12',
  '-0',
  '00',
  '9007199254740993',
  '=',
  '<<',
];

const doc = SCALARS.map((s, i) => `k${i}: ${s}`).join('\n');

describe('standalone YAML parsing', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('resolves every plain scalar exactly as `yaml` does, without falling back', () => {
    expect(load(doc, { schema: YAML_1_2_CORE })).toEqual(parse(doc));
    expect(parseStandaloneYaml(doc, 'f.yaml')).toEqual(parse(doc));
  });

  it("js-yaml's own schemas would differ on these (the reason for the custom schema)", () => {
    const at = (schema: typeof CORE_SCHEMA, s: string) => (load(`k: ${s}`, { schema }) as { k: unknown }).k;
    expect(at(DEFAULT_SCHEMA, '2026-01-01')).toBeInstanceOf(Date);
    expect(at(CORE_SCHEMA, '0b101')).toBe(5);
    expect(at(CORE_SCHEMA, '+.5')).toBe('+.5');
    expect(parse('k: 0b101').k).toBe('0b101');
    expect(parse('k: +.5').k).toBe(0.5);
  });

  it('keeps merge keys, explicit tags, anchors and empty files as `yaml` reads them', () => {
    for (const text of [
      'a: { x: 1 }\nb: { <<: { y: 2 } }',
      'k: !!str 5\nn: !!int "5"',
      'k: !custom x', // js-yaml rejects unknown tags; `yaml` keeps the string
      'k: !!binary aGk=',
      'a: &a { x: 1 }\nb: *a',
      '',
      '# only a comment',
    ]) {
      expect(parseStandaloneYaml(text, 'f.yaml'), text).toEqual(parse(text, { logLevel: 'silent' }));
    }
  });

  it('reports a syntax error with file:line from `yaml`', () => {
    expect(() => parseStandaloneYaml('apis:\n  - id: a\n  bad: [unclosed', '/x/standalone.yaml')).toThrow(
      /^\/x\/standalone\.yaml:3: not valid YAML: /,
    );
    expect(() => parseStandaloneYaml('a: 1\na: 2', 'f.yaml')).toThrow(
      /^f\.yaml:2: not valid YAML: Map keys must be unique/,
    );
  });

  it('an application named like a date or a binary number stays a string name', () => {
    dir = mkdtempSync(join(tmpdir(), 'mesh-apim-yaml-'));
    const file = join(dir, 'standalone.yaml');
    writeFileSync(
      file,
      [
        'applications:',
        '  - { name: 2026-01-01 }',
        '  - { name: 0b101 }',
        '  - { name: on, tier: Unlimited }',
        'keyMappings:',
        '  - { consumerKey: 0o8, application: 0b101 }',
      ].join('\n'),
    );
    const { data } = loadStandaloneData(file, join(dir, 'standalone.d'));
    expect(data.applications.map((a) => a.name)).toEqual(['2026-01-01', '0b101', 'on']);
    expect(data.keyMappings[0]).toMatchObject({ consumerKey: '0o8', application: '0b101' });
  });
});
