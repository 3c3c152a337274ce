import { bridgeConfigProblem, startBridge } from '../../bridge/main.ts';
import { loadConfig } from '../../common/config/index.ts';
import { createLogger } from '../../common/log.ts';
import { type Parsed, parseCommand } from '../parse.ts';
import { runUntilSignal } from '../signals.ts';

export const description =
  "Bridge WSO2 API Manager's event hub (AMQP: token revocations, change notifications) and its revocation notifier (HTTP) to the event stream.";
export const usage = 'mesh-apim bridge [--config <file>]';

type Values = { config: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values } = parsed ?? parseCommand<Values>('bridge', argv);
  const config = loadConfig({ file: values.config });
  const problem = bridgeConfigProblem(config);
  if (problem) {
    process.stderr.write(`mesh-apim bridge: ${problem}\n`);
    return 2;
  }
  const log = createLogger('bridge');
  return runUntilSignal(() => startBridge(config, { logger: log }), log);
}
