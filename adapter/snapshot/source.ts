import type { Snapshot } from './types.ts';

/**
 * Where snapshots come from: the standalone YAML files, WSO2 API Manager, ... load() builds a
 * complete snapshot or throws (SnapshotError for bad data); watch() reports that load() would now
 * give something else, and the store then reloads.
 */
export interface SnapshotSource {
  readonly name: string;
  load(): Promise<Snapshot>;
  /** Calls onChange when the underlying data may have changed. Returns the unsubscribe function. */
  watch?(onChange: () => void): () => void;
}
