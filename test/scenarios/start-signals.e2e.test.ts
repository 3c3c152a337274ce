/**
 * Issue 19 item 7: `mesh-apim start` stopped under check load keeps the event of every answered
 * check: on SIGTERM, on two SIGTERMs 2 ms apart (flushed to the log or spooled), and on SIGKILL
 * (journaled before the answer left the process, recovered by the next start). On both transports
 * (adapter.transport): issue 12 says nothing already tested may regress on either.
 */
import { describe, expect, it } from 'vitest';
import { startUnderLoad } from '../support/start-under-load.ts';

describe.each(['http2', 'grpc-js'])('mesh-apim start (%s) stopped with checks in flight', (transport) => {
  const env = { MESH_APIM_ADAPTER_TRANSPORT: transport };
  it('SIGTERM: every answered check has its event, and start exits 0', async () => {
    const r = await startUnderLoad({ signals: [{ signal: 'SIGTERM', delayMs: 0 }], after: 300, env });
    expect(r.answered).toBeGreaterThanOrEqual(300);
    expect(r.exit).toEqual({ code: 0, signal: null });
    expect(r.missing).toBe(0);
  }, 60_000);

  it('two SIGTERMs 2 ms apart: the second does not cut the flush short', async () => {
    const r = await startUnderLoad({
      signals: [
        { signal: 'SIGTERM', delayMs: 0 },
        { signal: 'SIGTERM', delayMs: 2 },
      ],
      after: 300,
      env,
    });
    expect(r.exit).toEqual({ code: 0, signal: null });
    expect(r.missing).toBe(0);
  }, 60_000);

  it('SIGKILL: every answered check has its event on the log or recovered by the next start', async () => {
    const r = await startUnderLoad({ signals: [{ signal: 'SIGKILL', delayMs: 0 }], after: 300, env });
    expect(r.exit.signal).toBe('SIGKILL');
    expect(r.answered).toBeGreaterThanOrEqual(300);
    expect(r.missing).toBe(0);
  }, 60_000);

  it('SIGKILL with a long linger: the loss window does not depend on what is still in memory', async () => {
    // A 2 s linger keeps every event of the run in memory: without the journal all of them are lost.
    const r = await startUnderLoad({
      signals: [{ signal: 'SIGKILL', delayMs: 0 }],
      after: 300,
      env: { ...env, MESH_APIM_EMITTER_LINGER_MS: '2000', MESH_APIM_EMITTER_BATCH_SIZE: '100000' },
    });
    expect(r.exit.signal).toBe('SIGKILL');
    expect(r.answered).toBeGreaterThanOrEqual(300);
    expect(r.missing).toBe(0);
  }, 60_000);
});
