import { parseArgs } from 'node:util';
import { configDocs, loadConfig } from '../../common/config.ts';

export const description = 'Print the effective configuration (defaults + file + environment) as JSON.';
export const usage = 'mesh-apim config [--config <file>] [--docs]';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, docs: { type: 'boolean' } },
  });
  if (values.docs) {
    process.stdout.write(configDocs());
    return 0;
  }
  const config = loadConfig({ file: values.config });
  const redacted = JSON.parse(
    JSON.stringify(config, (k, v) => (/password|secret(?!Arn$)|^sslKey$/i.test(k) && v ? '***' : v)),
  );
  process.stdout.write(`${JSON.stringify(redacted, null, 2)}\n`);
  return 0;
}
