/**
 * The standalone control plane: the main YAML file (config/standalone.yaml) plus every `*.yaml` /
 * `*.yml` fragment in `<dataDir>/standalone.d/` (written by the API auto-creator), merged and
 * compiled into one snapshot. Both are watched; the store reloads on change and keeps the last
 * good snapshot when an edit is invalid.
 */
import { type FSWatcher, mkdirSync, readdirSync, readFileSync, watch } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { errorMessage } from '../../common/errors.ts';
import { createLogger } from '../../common/log.ts';
import { SnapshotError } from '../errors.ts';
import { compileSnapshot, type OriginList, parseControlPlaneData } from '../snapshot/compile.ts';
import type { ControlPlaneData } from '../snapshot/model.ts';
import type { SnapshotSource } from '../snapshot/source.ts';
import type { Snapshot, TrustedKey } from '../snapshot/types.ts';
import { parseStandaloneYaml } from './yaml.ts';

export interface StandaloneSourceOptions {
  /** Main file (adapter.standaloneFile). */
  file: string;
  /** Directory of fragment files merged in; default <dataDir>/standalone.d. */
  fragmentsDir: string;
  /** Keys trusted in addition to the files' keyIssuers (the standalone issuer's own key). */
  extraKeys?: readonly TrustedKey[];
}

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SnapshotError(file, `cannot read: ${errorMessage(err)}`, { cause: err });
  }
  return parseStandaloneYaml(text, file);
}

/** `clientCertificates[].file`, relative to the YAML file that names it, read into `certificate`. */
function readClientCertificateFiles(part: ControlPlaneData, yamlFile: string): void {
  part.apis.forEach((api, i) => {
    api.clientCertificates.forEach((c, k) => {
      if (c.file === undefined) return;
      const path = resolve(dirname(yamlFile), c.file);
      try {
        c.certificate = readFileSync(path, 'utf8');
        // The data now carries the PEM itself (compileSnapshot re-validates it: one of the two).
        delete c.file;
      } catch (err) {
        throw new SnapshotError(
          `${yamlFile}: apis[${i}].clientCertificates[${k}].file`,
          `cannot read ${path}: ${errorMessage(err)}`,
          { cause: err },
        );
      }
    });
  });
}

/** Reads, validates and merges the main file and the fragments (pure apart from reading files). */
export function loadStandaloneData(
  file: string,
  fragmentsDir: string | null,
): { data: ControlPlaneData; origins: Record<OriginList, string[]>; files: string[] } {
  let fragments: string[] = [];
  try {
    // null: the file alone (`mesh-apim validate <other file>`).
    if (fragmentsDir !== null)
      fragments = readdirSync(fragmentsDir)
        .filter((f) => /\.ya?ml$/i.test(f) && !f.startsWith('.'))
        .sort()
        .map((f) => join(fragmentsDir, f));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SnapshotError(fragmentsDir ?? file, `cannot list: ${errorMessage(err)}`, { cause: err });
    }
  }
  const merged: ControlPlaneData = {
    apis: [],
    applications: [],
    subscriptions: [],
    keyMappings: [],
    policies: { subscription: [], application: [], api: [] },
    keyIssuers: [],
    revokedTokens: [],
  };
  const origins: Record<OriginList, string[]> = {
    apis: [],
    applications: [],
    subscriptions: [],
    keyMappings: [],
    keyIssuers: [],
  };
  const files = [file, ...fragments];
  for (const f of files) {
    const part = parseControlPlaneData(readYaml(f), f);
    readClientCertificateFiles(part, f);
    for (const list of Object.keys(origins) as OriginList[]) {
      (part[list] as unknown[]).forEach((item, i) => {
        (merged[list] as unknown[]).push(item);
        origins[list].push(`${f}: ${list}[${i}]`);
      });
    }
    merged.policies.subscription.push(...part.policies.subscription);
    merged.policies.application.push(...part.policies.application);
    merged.policies.api.push(...part.policies.api);
    merged.revokedTokens.push(...part.revokedTokens);
  }
  return { data: merged, origins, files };
}

export class StandaloneSource implements SnapshotSource {
  readonly name = 'standalone';
  readonly file: string;
  readonly fragmentsDir: string;
  private readonly extraKeys: readonly TrustedKey[];

  constructor(options: StandaloneSourceOptions) {
    this.file = resolve(options.file);
    this.fragmentsDir = resolve(options.fragmentsDir);
    this.extraKeys = options.extraKeys ?? [];
  }

  async load(): Promise<Snapshot> {
    const { data, origins } = loadStandaloneData(this.file, this.fragmentsDir);
    return compileSnapshot(data, { source: this.name, extraKeys: this.extraKeys, origins });
  }

  watch(onChange: () => void): () => void {
    const log = createLogger('standalone-source');
    const watchers: FSWatcher[] = [];
    const main = basename(this.file);
    const add = (dir: string, filter: (name: string | null) => boolean) => {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (filter(name ? String(name) : null)) onChange();
        });
        w.on('error', (err) => log.warn({ dir, err: errorMessage(err) }, 'file watch failed'));
        watchers.push(w);
      } catch (err) {
        log.warn(
          { dir, err: errorMessage(err) },
          'cannot watch directory; changes need a restart or refresh',
        );
      }
    };
    // Watch directories, not files: editors and atomic writers replace the file (new inode).
    add(dirname(this.file), (name) => name === null || name === main);
    try {
      mkdirSync(this.fragmentsDir, { recursive: true });
    } catch {
      // Reported by add() below if the directory really is unusable.
    }
    add(this.fragmentsDir, (name) => name === null || /\.ya?ml$/i.test(name));
    return () => {
      for (const w of watchers) w.close();
    };
  }
}
