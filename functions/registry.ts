/**
 * The functions this repo deploys, by name: what the local runner starts, `invoke` runs and replay
 * drives. Each entry is loaded lazily (a function's dependencies load only when it is used).
 * Adding a function: write functions/<name>/index.ts with one `export default defineFunction({...})`
 * (functions/lib/define.ts) and functions/<name>/handler.ts, add a line here. Definitions never import
 * this module, so there is no cycle.
 */
import type { AnyFunctionDefinition } from './lib/define.ts';

export const FUNCTIONS: Record<string, () => Promise<AnyFunctionDefinition>> = {
  'analytics-publisher': async () => (await import('./analytics-publisher/index.ts')).default,
  'api-auto-creator': async () => (await import('./api-auto-creator/index.ts')).default,
  'revocation-fanout': async () => (await import('./revocation-fanout/index.ts')).default,
  'usage-billing': async () => (await import('./usage-billing/index.ts')).default,
  'usage-metering': async () => (await import('./usage-metering/index.ts')).default,
};

export function functionNames(): string[] {
  return Object.keys(FUNCTIONS).sort();
}

export async function loadFunction(name: string): Promise<AnyFunctionDefinition | undefined> {
  const load = FUNCTIONS[name];
  return load ? load() : undefined;
}
