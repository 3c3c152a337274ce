/**
 * The functions this repo deploys, by name: what the local runner starts, `invoke` runs and replay
 * drives. Each entry is loaded lazily (a function's dependencies load only when it is used).
 * Adding a function: write functions/<name>/index.ts exporting `module: FunctionModule`, add a line here.
 */
import type { TopicContract } from '../events/topics.ts';
import type { FunctionDeps } from './lib/deps.ts';
import type { KafkaHandler } from './lib/handler.ts';

export interface FunctionInstance {
  handler: KafkaHandler;
  /** Releases what the instance holds (sinks, clients). */
  close(): Promise<void>;
}

export interface FunctionModule {
  name: string;
  description: string;
  /** Trigger topics (the runner subscribes to their wire names with bus.topicPrefix). */
  topics: readonly TopicContract[];
  create(deps: FunctionDeps): FunctionInstance;
  /** false = the local runner leaves it out unless named (usage-billing without a billing provider). */
  enabled?(config: FunctionDeps['config']): boolean;
}

export const FUNCTIONS: Record<string, () => Promise<FunctionModule>> = {
  'analytics-publisher': async () => (await import('./analytics-publisher/index.ts')).module,
  'api-auto-creator': async () => (await import('./api-auto-creator/index.ts')).module,
  'revocation-fanout': async () => (await import('./revocation-fanout/index.ts')).module,
  'usage-billing': async () => (await import('./usage-billing/index.ts')).module,
  'usage-metering': async () => (await import('./usage-metering/index.ts')).module,
};

export function functionNames(): string[] {
  return Object.keys(FUNCTIONS).sort();
}

export async function loadFunction(name: string): Promise<FunctionModule | undefined> {
  const load = FUNCTIONS[name];
  return load ? load() : undefined;
}
