import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { EventPublisher } from '../../bridge/publish.ts';
import { createBus } from '../../bus/index.ts';
import { loadConfig } from '../../common/config.ts';
import { TokenRevoked, tokenDigest } from '../../events/token-revoked.ts';
import { outputFormat } from '../output.ts';

export const description =
  'Revoke an API key / JWT (jti), an application (consumer key), a user or an opaque token: publishes token-revoked to the stream.';
export const usage =
  'mesh-apim revoke (--jti <id> [--expires-at <ISO time>] | --consumer-key <key> | --user <id> | --token <token>) [--tenant <domain>] [--config <file>]';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      jti: { type: 'string' },
      'consumer-key': { type: 'string' },
      user: { type: 'string' },
      token: { type: 'string' },
      'expires-at': { type: 'string' },
      tenant: { type: 'string' },
      config: { type: 'string' },
      output: { type: 'string', short: 'o' },
    },
  });
  const output = outputFormat(values.output, ['text', 'json']);
  const given = (
    [
      ['jti', values.jti],
      ['consumer-key', values['consumer-key']],
      ['user', values.user],
      ['token', values.token],
    ] as const
  ).filter(([, v]) => v !== undefined);
  if (given.length !== 1) {
    process.stderr.write(
      `mesh-apim revoke: give exactly one of --jti, --consumer-key, --user, --token\n${usage}\n`,
    );
    return 2;
  }
  const [kind, raw = ''] = given[0]!;
  if (kind === 'token' && raw === '') {
    process.stderr.write('mesh-apim revoke: --token must not be empty\n');
    return 2;
  }
  // An opaque token is published as its SHA-256 digest, never as the live credential itself.
  const value = kind === 'token' ? tokenDigest(raw) : raw;
  const config = loadConfig({ file: values.config });
  const now = new Date().toISOString();
  const parsed = TokenRevoked.safeParse({
    type: 'token-revoked',
    schemaVersion: 1,
    eventId: `cli-${randomUUID()}`,
    occurredAt: now,
    kind,
    value,
    revokedAt: now,
    expiresAt: values['expires-at'] ?? null,
    tenantDomain: values.tenant ?? config.apim.tenant,
    source: 'cli',
  });
  if (!parsed.success) {
    process.stderr.write(
      `mesh-apim revoke: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`,
    );
    return 2;
  }
  const bus = createBus(config);
  try {
    await new EventPublisher(bus, config.bus.topicPrefix).revoked(parsed.data);
  } finally {
    await bus.close();
  }
  process.stdout.write(output === 'json' ? `${JSON.stringify(parsed.data)}\n` : `${parsed.data.eventId}\n`);
  return 0;
}
