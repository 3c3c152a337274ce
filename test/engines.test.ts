/**
 * `npm ci` must not warn EBADENGINE on the Node the README and package.json claim: every package in the
 * lock file has to accept the lowest Node version of our own `engines.node`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const require = createRequire(root);
// semver is in every npm tree (transitively); loaded untyped to avoid a dependency for one test.
const semver = require('semver') as {
  satisfies(v: string, range: string): boolean;
  minVersion(range: string): { version: string };
};

describe('engines', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
  const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8'));
  const lowest = semver.minVersion(pkg.engines.node).version;

  it('every locked package supports the lowest Node we claim', () => {
    const refusing = Object.entries(lock.packages as Record<string, { engines?: { node?: string } }>)
      .filter(([, p]) => p.engines?.node && !semver.satisfies(lowest, p.engines.node))
      .map(([name, p]) => `${name} (${p.engines?.node})`);
    expect(refusing).toEqual([]);
  });

  it('the README claims the same Node as package.json', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    expect(readme).toContain(`Node ≥ ${lowest.replace(/\.0$/, '')}`);
  });
});
