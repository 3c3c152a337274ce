/** Standalone mode: the revoked set survives restarts in the data directory (atomic replace). */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { RevocationError } from '../../common/revocation-errors.ts';
import type { PersistedRevocations, RevocationStore } from './store.ts';

const Persisted = z.object({
  version: z.literal(1),
  jti: z.array(z.tuple([z.string(), z.number().nullable()])),
  consumerKeys: z.array(z.tuple([z.string(), z.number()])),
  users: z.array(z.tuple([z.string(), z.number()])),
  tokens: z.array(z.tuple([z.string(), z.number().nullable()])),
  eventIds: z.array(z.string()),
});

export function revocationsFile(dataDir: string): string {
  return join(dataDir, 'revocations', 'revoked.json');
}

export function loadRevocations(file: string, store: RevocationStore): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new RevocationError('REVOCATIONS_UNREADABLE', `cannot read ${file}`, { cause: err });
  }
  const parsed = Persisted.safeParse(JSON.parse(text));
  // A corrupt file must stop the start: silently starting empty would un-revoke credentials.
  if (!parsed.success)
    throw new RevocationError('REVOCATIONS_CORRUPT', `${file} is not a valid revocation set`);
  store.load(parsed.data as PersistedRevocations);
  return true;
}

export function saveRevocations(file: string, store: RevocationStore): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(store.toJSON()));
  renameSync(tmp, file);
}
