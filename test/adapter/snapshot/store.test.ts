import { describe, expect, it, vi } from 'vitest';
import { compileSnapshot } from '../../../adapter/snapshot/compile.ts';
import type { SnapshotSource } from '../../../adapter/snapshot/source.ts';
import { SnapshotStore } from '../../../adapter/snapshot/store.ts';
import { loadStandaloneData } from '../../../adapter/standalone/source.ts';
import type { Logger } from '../../../common/log.ts';

describe('SnapshotStore failure messages', () => {
  it('a failed first load does not claim to keep a last good snapshot; a later failure does', async () => {
    let broken = true;
    const source: SnapshotSource = {
      name: 'test',
      async load() {
        if (broken) throw new Error('config/standalone.yaml: apis[0].colour: unknown key');
        return compileSnapshot(loadStandaloneData('config/standalone.yaml', null).data, { source: 'test' });
      },
    };
    const error = vi.fn();
    const logger = { error, info: vi.fn(), warn: vi.fn(), debug: vi.fn() } as unknown as Logger;
    const store = new SnapshotStore(source, { logger });
    expect((await store.refresh()).status).toBe('failed');
    expect(error.mock.calls[0]![1]).toMatch(/no snapshot yet: not ready until the source is fixed/);
    expect(error.mock.calls[0]![1]).not.toMatch(/keeping/);
    broken = false;
    expect((await store.refresh()).status).toBe('ok');
    broken = true;
    expect((await store.refresh()).status).toBe('failed');
    expect(error.mock.calls[1]![1]).toMatch(/keeping the last good snapshot/);
  });
});
