/**
 * An adapter in its own process, for the fault-injection tests (it must be SIGKILLable):
 * `node --import tsx test/support/adapter-process.ts '<overrides JSON>'`, bus from the environment
 * (KAFKA_BROKERS selects Kafka). Prints one JSON line { grpcPort, adminPort, apiKey } when serving.
 */

import { startAdapter } from '../../adapter/main.ts';
import { issueApiKey } from '../../adapter/standalone/issuer.ts';
import { createBus } from '../../bus/index.ts';
import { loadConfig } from '../../common/config/index.ts';

const overrides = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const config = loadConfig({ env: process.env, overrides });
const bus = createBus(config);
const adapter = await startAdapter(config, { bus });
const apiKey = await issueApiKey(adapter.store.current()!, adapter.signingKey!, {
  application: String(process.env.FAULT_APPLICATION ?? 'demo-app'),
});
process.stdout.write(
  `${JSON.stringify({ grpcPort: adapter.grpcPort, adminPort: adapter.adminPort, apiKey })}\n`,
);
const stop = async () => {
  await adapter.stop();
  await bus.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
