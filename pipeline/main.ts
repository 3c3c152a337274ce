/**
 * Composition root of the whole pipeline on one machine (`mesh-apim start`, `npm start`): the event
 * bus (the embedded log by default, Kafka when brokers are configured; topics as infra/topics.yaml
 * says), the adapter with its revocation feed emitting request events to it, and the local functions
 * consuming them (functions.runLocal; the container image turns them off and leaves functions/ out).
 */
import { type AdapterHandle, startAdapter } from '../adapter/main.ts';
import { createBus } from '../bus/index.ts';
import { topicSpecs } from '../bus/topics.ts';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../common/config/index.ts';

export interface PipelineDeps {
  /** The bus to run on (its topics already made); default: one from the settings, topics ensured, closed on stop. */
  bus?: Bus;
}

export interface RunningPipeline {
  adapter: AdapterHandle;
  stop(): Promise<void>;
}

export async function startPipeline(config: Config, deps: PipelineDeps = {}): Promise<RunningPipeline> {
  const ownBus = deps.bus ? null : createBus(config);
  const bus = deps.bus ?? ownBus!;
  let adapter: AdapterHandle;
  try {
    if (ownBus) await ownBus.ensureTopics(topicSpecs(config.bus.topicPrefix));
    // Revocations always need the stream (standalone: the adapter consumes token-revoked from it).
    adapter = await startAdapter(config, { bus, revocationFeed: true });
  } catch (err) {
    await ownBus?.close();
    throw err;
  }
  // The functions consume what the adapter emits; stopped after it so its last events get processed.
  // Loaded only when used: the container image leaves functions/ out (.dockerignore).
  let functions: { stop(): Promise<void> } | null = null;
  try {
    if (config.functions.runLocal) {
      const { startLocalFunctions } = await import('../functions/main.ts');
      functions = await startLocalFunctions(config, { bus });
    }
  } catch (err) {
    await adapter.stop();
    await ownBus?.close();
    throw err;
  }
  return {
    adapter,
    async stop() {
      await adapter.stop();
      await functions?.stop();
      await ownBus?.close();
    },
  };
}
