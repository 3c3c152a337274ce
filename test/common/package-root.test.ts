import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findPackageRoot, PACKAGE_ROOT, PACKAGE_VERSION, packageFile } from '../../common/package-root.ts';

describe('package root', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mesh-apim-root-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is this checkout from the sources, with its version', () => {
    expect(PACKAGE_ROOT).toBe(path.resolve(import.meta.dirname, '../..'));
    expect(packageFile('infra/topics.yaml')).toBe(path.join(PACKAGE_ROOT, 'infra', 'topics.yaml'));
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('is found from the bundle two levels down, past a package.json of another name', () => {
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'mesh-apim', version: '9.9.9' }));
    const bundle = path.join(dir, 'dist', 'app');
    mkdirSync(bundle, { recursive: true });
    writeFileSync(path.join(dir, 'dist', 'package.json'), JSON.stringify({ type: 'module' }));
    expect(findPackageRoot(bundle)).toBe(dir);
  });

  it('names where it looked when there is none', () => {
    const lone = mkdtempSync(path.join(tmpdir(), 'mesh-apim-noroot-'));
    try {
      expect(() => findPackageRoot(lone)).toThrow(/package\.json of mesh-apim not found above/);
    } finally {
      rmSync(lone, { recursive: true, force: true });
    }
  });
});
