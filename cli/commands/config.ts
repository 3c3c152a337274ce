import { configDocs, loadConfig } from '../../common/config/index.ts';
import { maskSecrets } from '../../common/redact.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export const description = 'Print the effective configuration (defaults + file + environment) as JSON.';
export const usage = 'mesh-apim config [--config <file>] [--docs] [-o json]';

type Values = { config: string; docs: boolean; output: string };

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values } = parsed ?? parseCommand<Values>('config', argv);
  outputFormat(values.output, ['json']);
  if (values.docs) {
    process.stdout.write(configDocs());
    return 0;
  }
  // Secrets masked: passwords and keys, and the user info of every URL (apim.url, bridge.amqpUrl, ...).
  process.stdout.write(`${JSON.stringify(maskSecrets(loadConfig({ file: values.config })), null, 2)}\n`);
  return 0;
}
