import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'mesh-apim-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minimal .cpuprofile: `busyUs` of self time in `fn` (a file of ours) and as much idle. */
function profile(name: string, fn: string, busyUs: number): string {
  const file = join(dir, name);
  const nodes = [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3] },
    { id: 2, callFrame: { functionName: fn, url: 'file:///app/adapter/decide.ts', lineNumber: 9 } },
    { id: 3, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
  ];
  writeFileSync(file, JSON.stringify({ nodes, samples: [2, 3], timeDeltas: [busyUs, busyUs] }));
  return file;
}

const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'bench/profile.ts', ...args], { encoding: 'utf8' });

describe('bench/profile.ts', () => {
  it('summarizes each of several profiles, busiest first, with the trailing row count applied to each', () => {
    const quiet = profile('quiet.cpuprofile', 'quietFn', 1_000);
    const busy = profile('busy.cpuprofile', 'busyFn', 9_000);
    const r = run([quiet, busy, '5']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.indexOf(`## ${busy}`)).toBeGreaterThanOrEqual(0);
    expect(r.stdout.indexOf(`## ${busy}`)).toBeLessThan(r.stdout.indexOf(`## ${quiet}`));
    expect(r.stdout).toMatch(/\| busyFn decide\.ts:10 \| 100\.0 \|/);
    expect(r.stdout).toMatch(/\| quietFn decide\.ts:10 \| 100\.0 \|/);
    expect(r.stdout).toMatch(/\| ours:adapter\/decide\.ts \| 100\.0 \|/);
  });

  it('one profile: no section header, the same tables', () => {
    const r = run([profile('one.cpuprofile', 'onlyFn', 2_000)]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^## /m);
    expect(r.stdout).toMatch(/busy 0\.0 s \(50\.0%\)/);
    expect(r.stdout).toMatch(/\| onlyFn decide\.ts:10 \| 100\.0 \|/);
  });
});
