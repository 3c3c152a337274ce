import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../../cli/commands/validate.ts';

const fixture = (name: string) => `test/cli/fixtures/${name}.yaml`;

async function validate(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  vi.stubEnv('MESH_APIM_CONFIG', '');
  const code = await run(argv);
  vi.restoreAllMocks();
  return { code, out };
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('mesh-apim validate', () => {
  it('reports every schema problem of the file with file:line:column and path, exit 3', async () => {
    const res = await validate(fixture('standalone-three-schema-problems'));
    expect(res.code).toBe(3);
    const file = fixture('standalone-three-schema-problems');
    expect(res.out.split('\n').filter(Boolean)).toEqual([
      `${file}:6:5: apis[0].colour: unknown key "colour"`,
      expect.stringMatching(new RegExp(`^${file}:9:19: apis\\[0\\]\\.resources\\[1\\]\\.method: .*"GET"`)),
      expect.stringMatching(
        new RegExp(`^${file}:13:21: policies\\.subscription\\[0\\]\\.requestCount: .*expected number`),
      ),
      '3 problems',
    ]);
  });

  it('a reference the compiler rejects is reported at its line', async () => {
    const res = await validate(fixture('standalone-unknown-subscription-tier'), '-o', 'json');
    expect(res.code).toBe(3);
    expect(JSON.parse(res.out)).toEqual({
      file: fixture('standalone-unknown-subscription-tier'),
      valid: false,
      problems: [
        {
          file: fixture('standalone-unknown-subscription-tier'),
          line: 11,
          column: 54,
          path: 'subscriptions[0].tier',
          message: 'unknown subscription policy "Platinum"',
        },
      ],
    });
  });

  it('every reference the compiler rejects is reported in one run, each at its line (not the first only)', async () => {
    const file = fixture('standalone-four-reference-problems');
    const res = await validate(file);
    expect(res.code).toBe(3);
    expect(res.out.split('\n').filter(Boolean)).toEqual([
      `${file}:6:13: apis[0].policy: unknown API policy "NoSuchApiPolicy"`,
      `${file}:10:42: applications[0].tier: unknown application policy "NoSuchAppPolicy"`,
      `${file}:12:54: subscriptions[0].tier: unknown subscription policy "Platinum"`,
      `${file}:13:20: subscriptions[1].application: unknown application "ghost-app"`,
      '4 problems',
    ]);
  });

  it('YAML syntax errors carry their line', async () => {
    // Written here: a broken YAML file in the tree would fail the repository's own YAML lint.
    const file = join(mkdtempSync(join(tmpdir(), 'validate-')), 'standalone-not-yaml.yaml');
    writeFileSync(file, 'apis: [\n  - name: petstore\n');
    const res = await validate(file);
    expect(res.code).toBe(3);
    expect(res.out).toMatch(/standalone-not-yaml\.yaml:2:3: not valid YAML: /);
  });

  it('the shipped config/standalone.yaml is valid (exit 0); a missing file is a problem, not a crash', async () => {
    expect(await validate('config/standalone.yaml')).toEqual({
      code: 0,
      out: 'config/standalone.yaml: valid\n',
    });
    const missing = await validate('test/cli/fixtures/absent.yaml');
    expect(missing.code).toBe(3);
    expect(missing.out).toMatch(/absent\.yaml: cannot read/);
  });
});
