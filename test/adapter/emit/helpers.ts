import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { RequestAttributes, RequestContext } from '../../../events/request-attributes.ts';

export const silentLogger = pino({ level: 'silent' });

export function tempDir(prefix = 'emit-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls until `cond` holds (bounded): tests wait for the background loop, never assert timing. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

const samplesDir = new URL('../../../events/samples/request-attributes/', import.meta.url);

export function sample(name: string): RequestAttributes {
  return JSON.parse(readFileSync(new URL(`${name}.json`, samplesDir), 'utf8')) as RequestAttributes;
}

/** The RequestContext part of a request-attributes sample. */
export function contextOf(name: string, over: Partial<RequestContext> = {}): RequestContext {
  const {
    type: _t,
    schemaVersion: _s,
    eventId: _e,
    occurredAt: _o,
    source: _src,
    response: _r,
    ...ctx
  } = sample(name);
  return { ...ctx, ...over };
}

/** A request-attributes event numbered `seq` (in requestId), for order and count checks. */
export function numberedEvent(seq: number, padding = 0): RequestAttributes {
  const base = sample('allowed-access-logs-off');
  return {
    ...base,
    eventId: `test-${seq}`,
    requestId: `req-${seq}`,
    client: { ...base.client, userAgent: padding ? 'x'.repeat(padding) : base.client.userAgent },
  };
}

export function seqOf(value: Buffer | null): number {
  const e = JSON.parse(value!.toString()) as RequestAttributes;
  return Number(e.requestId.slice(4));
}
