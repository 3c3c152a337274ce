import { createBus } from '../../bus/index.ts';
import { topicSpecs } from '../../bus/topics.ts';
import { startProgramAdmin } from '../../common/admin-http.ts';
import { loadConfig } from '../../common/config.ts';
import { createLogger } from '../../common/log.ts';
import { startController } from '../../controller/main.ts';
import { TOPICS, topicName } from '../../events/topics.ts';
import { type Parsed, parseCommand } from '../parse.ts';
import { untilSignal } from '../signals.ts';

export const description =
  'Watch Kubernetes Services with mesh-apim.io/* annotations and emit service-deployed / service-deleted.';
export const usage =
  'mesh-apim controller [--config <file>] [--kubeconfig <file>] [--namespace <ns>] [--cluster <name>]';

type Values = { config: string; kubeconfig: string; namespace: string; cluster: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values } = parsed ?? parseCommand<Values>('controller', argv);
  const overrides: Record<string, unknown> = {};
  if (values.kubeconfig !== undefined) overrides['controller.kubeconfig'] = values.kubeconfig;
  if (values.namespace !== undefined) overrides['controller.namespace'] = values.namespace;
  if (values.cluster !== undefined) overrides['controller.cluster'] = values.cluster;
  const config = loadConfig({ file: values.config, overrides });
  const log = createLogger('controller');
  const bus = createBus(config, log);
  const wanted = topicName(TOPICS.serviceLifecycle, config.bus.topicPrefix);
  await bus.ensureTopics(topicSpecs(config.bus.topicPrefix).filter((t) => t.name === wanted));
  const handle = await startController(config, { bus, logger: log });
  // Ready once the first Service list has been handed to the controller (its view is complete).
  let synced = false;
  void handle.reflector.synced.then(() => {
    synced = true;
  });
  const admin = await startProgramAdmin(config.controller.adminAddress, 'controller', () => ({
    ready: synced,
  }));
  if (admin) log.info({ adminPort: admin.port }, 'admin listening');
  await untilSignal(log);
  await admin?.close();
  await handle.stop();
  await bus.close();
  return 0;
}
