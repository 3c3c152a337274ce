import { resolveFragmentsDir } from '../../adapter/resolved.ts';
import { ensureSigningKey, issueApiKey } from '../../adapter/standalone/issuer.ts';
import { StandaloneSource } from '../../adapter/standalone/source.ts';
import { loadConfig } from '../../common/config/index.ts';
import { errorMessage } from '../../common/errors.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export const description =
  'Print a WSO2-format API key for a standalone application (signed with the key in the data directory).';
export const usage =
  'mesh-apim apikey --application <name> [--validity <seconds>] [--key-type PRODUCTION|SANDBOX] [--permitted-ip <ips/cidrs>] [--permitted-referer <patterns>] [--config <file>] [-o text|json]';

type Values = {
  application: string;
  validity: string;
  'key-type': string;
  'permitted-ip': string;
  'permitted-referer': string;
  config: string;
  output: string;
};

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parsed ?? parseCommand<Values>('apikey', argv));
    outputFormat(values.output, ['text', 'json']);
  } catch (err) {
    process.stderr.write(`mesh-apim apikey: ${errorMessage(err)}\nUsage: ${usage}\n`);
    return 2;
  }
  if (!values.application) {
    process.stderr.write(`mesh-apim apikey: --application is required\nUsage: ${usage}\n`);
    return 2;
  }
  const keyType = (values['key-type'] ?? 'PRODUCTION').toUpperCase();
  if (keyType !== 'PRODUCTION' && keyType !== 'SANDBOX') {
    process.stderr.write(
      `mesh-apim apikey: --key-type must be PRODUCTION or SANDBOX, got "${values['key-type']}"\n`,
    );
    return 2;
  }
  const validity = values.validity === undefined ? undefined : Number(values.validity);
  if (validity !== undefined && (!Number.isInteger(validity) || validity <= 0)) {
    process.stderr.write(`mesh-apim apikey: --validity must be a positive whole number of seconds\n`);
    return 2;
  }
  try {
    const config = loadConfig({ file: values.config });
    if (config.adapter.controlPlane !== 'standalone') {
      throw new Error('API keys are issued by WSO2 API Manager when adapter.controlPlane is apim');
    }
    const key = ensureSigningKey(config.dataDir);
    const snapshot = await new StandaloneSource({
      file: config.adapter.standaloneFile,
      fragmentsDir: resolveFragmentsDir(config),
      extraKeys: [key.trusted],
    }).load();
    const token = await issueApiKey(snapshot, key, {
      application: values.application,
      keyType,
      ...(validity !== undefined ? { validitySeconds: validity } : {}),
      ...(values['permitted-ip'] ? { permittedIP: values['permitted-ip'] } : {}),
      ...(values['permitted-referer'] ? { permittedReferer: values['permitted-referer'] } : {}),
    });
    process.stdout.write(
      values.output === 'json'
        ? `${JSON.stringify({ apiKey: token, application: values.application, keyType, ...(validity !== undefined ? { validitySeconds: validity } : {}) })}\n`
        : `${token}\n`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`mesh-apim apikey: ${errorMessage(err)}\n`);
    return 1;
  }
}
