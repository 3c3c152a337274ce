import { randomUUID } from 'node:crypto';
import { CheckClient } from '../../adapter/check-client.ts';
import { loadConfig } from '../../common/config/index.ts';
import { errorMessage } from '../../common/errors.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export const description =
  'Send one ext_authz CheckRequest to a running adapter (as Envoy would) and print the answer as JSON.';
export const usage =
  'mesh-apim check [--path /petstore/v1/pets] [--method GET] [--apikey <key>] [--header name=value]... [--client-ip <ip>] [--request-id <id>] [--address host:port] [--config <file>]';

type Values = {
  path: string;
  method: string;
  apikey: string;
  header: string[];
  'client-ip': string;
  'request-id': string;
  address: string;
  config: string;
  output: string;
};

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  let values: {
    path?: string;
    method?: string;
    apikey?: string;
    header?: string[];
    'client-ip'?: string;
    'request-id'?: string;
    address?: string;
    config?: string;
    output?: string;
  };
  try {
    ({ values } = parsed ?? parseCommand<Values>('check', argv));
    outputFormat(values.output, ['json']);
  } catch (err) {
    process.stderr.write(`mesh-apim check: ${errorMessage(err)}\nUsage: ${usage}\n`);
    return 2;
  }
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const eq = h.indexOf('=');
    if (eq <= 0) {
      process.stderr.write(`mesh-apim check: --header expects name=value, got "${h}"\n`);
      return 2;
    }
    headers[h.slice(0, eq).trim().toLowerCase()] = h.slice(eq + 1);
  }
  if (values.apikey) headers.apikey = values.apikey;
  const address =
    values.address ??
    loadConfig({ file: values.config }).adapter.grpcAddress.replace(/^0\.0\.0\.0:/, '127.0.0.1:');
  const client = new CheckClient(address);
  try {
    const deadline = Date.now() + 5000;
    await new Promise<void>((resolve, reject) =>
      client.client.waitForReady(deadline, (err) => (err ? reject(err) : resolve())),
    );
    const res = await client.check({
      path: values.path!,
      method: values.method!,
      headers,
      // A fresh x-request-id per check, as Envoy does: it is the analytics correlationId, and the file
      // sink drops ids it wrote recently, so a fixed one would hide every check after the first.
      requestId: values['request-id'] ?? randomUUID(),
      ...(values['client-ip'] ? { clientIp: values['client-ip'] } : {}),
    });
    const { raw: _raw, headerOptions: _h, ...shown } = res;
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return res.allowed ? 0 : 3;
  } catch (err) {
    process.stderr.write(`mesh-apim check: cannot reach the adapter at ${address}: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    client.close();
  }
}
