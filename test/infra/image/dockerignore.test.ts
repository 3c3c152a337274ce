import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contextFiles } from '../../../infra/image/assemble.ts';
import { parseDockerIgnore } from '../../../infra/image/dockerignore.ts';

const root = path.resolve(import.meta.dirname, '../../..');

describe('.dockerignore matching (Docker semantics)', () => {
  it('a directory pattern excludes everything below it, anchored at the context root', () => {
    const m = parseDockerIgnore('# comment\n\nfunctions\n/test\n');
    expect(m.excludes('functions/runner/index.ts')).toBe(true);
    expect(m.excludes('test/a.test.ts')).toBe(true);
    // Not unanchored like .gitignore: a nested "functions" directory stays.
    expect(m.excludes('adapter/functions/x.ts')).toBe(false);
  });

  it('* stays within a segment, ** crosses segments', () => {
    const m = parseDockerIgnore('*.log\ndocs/**/*.png\n');
    expect(m.excludes('a.log')).toBe(true);
    expect(m.excludes('sub/a.log')).toBe(false);
    expect(m.excludes('docs/x.png')).toBe(true);
    expect(m.excludes('docs/a/b/x.png')).toBe(true);
    expect(m.excludes('docs/a/b/x.md')).toBe(false);
  });

  it('the last matching pattern wins, ! re-includes', () => {
    const m = parseDockerIgnore('infra\n!infra/docker\ninfra/docker/secret.pem\n');
    expect(m.hasExceptions).toBe(true);
    expect(m.excludes('infra/k8s/a.yaml')).toBe(true);
    expect(m.excludes('infra/docker/healthcheck.mjs')).toBe(false);
    expect(m.excludes('infra/docker/secret.pem')).toBe(true);
  });

  it('? and character classes match one character of a segment', () => {
    const m = parseDockerIgnore('file?.txt\n[ab].md\n');
    expect(m.excludes('file1.txt')).toBe(true);
    expect(m.excludes('file12.txt')).toBe(false);
    expect(m.excludes('a.md')).toBe(true);
    expect(m.excludes('c.md')).toBe(false);
  });
});

describe("the image's build context (this repository's Dockerfile context)", () => {
  const ignore = parseDockerIgnore(readFileSync(path.join(root, '.dockerignore'), 'utf8'));
  const files = contextFiles(root, ignore);
  const inImage = new Set(files);

  it('contains the CLI, its bundler and the HEALTHCHECK script, not tests or the Lambda sources', () => {
    for (const f of [
      'infra/image/bundle.ts',
      'cli/main.ts',
      'cli/commands/start.ts',
      'infra/docker/healthcheck.mjs',
    ]) {
      expect(inImage.has(f), f).toBe(true);
    }
    expect(
      files.some(
        (f) =>
          f.startsWith('test/') ||
          (f.startsWith('functions/') && f !== 'functions/config.ts') ||
          f.startsWith('node_modules/'),
      ),
    ).toBe(false);
    // The functions' settings slice is the one file of functions/ in it: the image validates them too.
    expect(inImage.has('functions/config.ts')).toBe(true);
  });

  it('no module in it imports (statically) a module left out of it', () => {
    // A static import of a missing file fails the process at load time: the image's CMD and --help
    // (which loads every command) would not start. Dynamic import() is resolved only when used.
    const missing: string[] = [];
    for (const f of files.filter((x) => /\.(ts|mjs|js)$/.test(x))) {
      const src = readFileSync(path.join(root, f), 'utf8');
      for (const m of src.matchAll(
        /^\s*(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"](\.{1,2}\/[^'"]+)['"]/gm,
      )) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[1]!));
        if (!inImage.has(target)) missing.push(`${f} -> ${target}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
