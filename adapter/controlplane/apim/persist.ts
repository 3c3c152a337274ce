/**
 * The last good pull from API Manager, kept in `<dataDir>/snapshot/` so an adapter that restarts while
 * API Manager is down still starts (stale) instead of refusing every request. What is stored is the
 * validated raw data, not the compiled snapshot: compiling again on load keeps one code path.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ApimResponseError } from '../../../apim/errors.ts';
import { ApimData } from '../../../apim/internal-data-types.ts';
import { errorMessage } from '../../../common/errors.ts';

export const SNAPSHOT_FILE = 'apim-data.json';

const Persisted = z.object({
  version: z.literal(1),
  savedAt: z.string(),
  source: z.string(),
  data: ApimData,
});
export type PersistedApimData = z.infer<typeof Persisted>;

export function snapshotDir(dataDir: string): string {
  return join(dataDir, 'snapshot');
}

/** Atomic replace (write + rename): a crash mid-write leaves the previous file intact. */
export function saveLastGood(dataDir: string, source: string, data: ApimData, now: Date): void {
  const dir = snapshotDir(dataDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, SNAPSHOT_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const record: PersistedApimData = { version: 1, savedAt: now.toISOString(), source, data };
  writeFileSync(tmp, JSON.stringify(record));
  renameSync(tmp, file);
}

/** The stored pull, undefined when there is none; a corrupt file is an error naming the file. */
export function loadLastGood(dataDir: string): PersistedApimData | undefined {
  const file = join(snapshotDir(dataDir), SNAPSHOT_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ApimResponseError(`${file}: cannot read: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return Persisted.parse(JSON.parse(text));
  } catch (err) {
    throw new ApimResponseError(`${file}: not a valid stored snapshot: ${errorMessage(err)}`, { cause: err });
  }
}
