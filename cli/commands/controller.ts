import { loadConfig } from '../../common/config/index.ts';
import { createLogger } from '../../common/log.ts';
import { startController } from '../../controller/main.ts';
import { type Parsed, parseCommand } from '../parse.ts';
import { runUntilSignal } from '../signals.ts';

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
  return runUntilSignal(() => startController(config, { logger: log }), log);
}
