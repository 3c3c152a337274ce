/**
 * The external tools of the benches, cached outside the repo (MESH_APIM_BENCH_BIN, default
 * ~/.cache/mesh-apim/bin): ghz via `go install` at a pinned version (.ci/run reads GHZ_VERSION from
 * this file with sed: keep the line's shape), the OPA stand-in via `go build` of bench/opa-authz, and
 * OPA-Envoy only when the operator names a binary.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from './log.ts';

export const GHZ_VERSION = 'v0.93.0';
/** bench/ and the repository root. */
export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = join(BENCH_DIR, '..');
export const BIN = process.env.MESH_APIM_BENCH_BIN ?? join(homedir(), '.cache', 'mesh-apim', 'bin');

export function ensureGhz(): string {
  const ghz = join(BIN, 'ghz');
  if (existsSync(ghz)) return ghz;
  log(`installing ghz ${GHZ_VERSION} into ${BIN} (go install)`);
  mkdirSync(BIN, { recursive: true });
  execFileSync('go', ['install', `github.com/bojand/ghz/cmd/ghz@${GHZ_VERSION}`], {
    env: { ...process.env, GOBIN: BIN },
    stdio: 'inherit',
    timeout: 30 * 60_000,
  });
  return ghz;
}

export function ensureOpa(): string | null {
  const bin = join(BIN, 'opa-authz');
  if (existsSync(bin)) return bin;
  log(`building the OPA stand-in (bench/opa-authz) into ${BIN} (go build; long on a loaded machine)`);
  try {
    execFileSync('go', ['build', '-o', bin, '.'], {
      cwd: join(BENCH_DIR, 'opa-authz'),
      stdio: 'inherit',
      timeout: 40 * 60_000,
    });
    return bin;
  } catch (err) {
    log(`OPA stand-in build failed: ${(err as Error).message}`);
    return null;
  }
}

/**
 * OPA-Envoy is only accepted, never built: OPA_ENVOY_BIN names an opa-envoy-plugin binary the
 * operator already has. Unset: null (the stand-in is the OPA contender). Set but unusable: an error,
 * rather than silently measuring something else.
 */
export function opaEnvoyBin(): string | null {
  const raw = process.env.OPA_ENVOY_BIN;
  if (!raw) return null;
  const bin = raw.startsWith('~/') ? join(homedir(), raw.slice(2)) : raw;
  try {
    const st = statSync(bin);
    if (!st.isFile()) throw new Error('not a file');
    // access(X_OK) succeeds for root whatever the mode bits: look at them too.
    if (!(st.mode & 0o111)) throw new Error('no execute permission');
    accessSync(bin, constants.X_OK);
  } catch (err) {
    throw new Error(`OPA_ENVOY_BIN=${raw}: not an executable file (${(err as Error).message})`);
  }
  return bin;
}

export function binVersion(bin: string): string {
  try {
    const out = execFileSync(bin, ['version'], { encoding: 'utf8', timeout: 30_000 });
    return out
      .split('\n')
      .filter((l) => /^(Version|Go Version|Rego Version)\b/i.test(l))
      .join('; ');
  } catch (err) {
    return `version unknown (${(err as Error).message})`;
  }
}
