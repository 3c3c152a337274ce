import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { EventPublisher } from '../../bridge/publish.ts';
import { createBus } from '../../bus/index.ts';
import { loadConfig } from '../../common/config/index.ts';
import { TokenRevoked, tokenDigest } from '../../events/token-revoked.ts';
import { outputFormat } from '../output.ts';
import { type Parsed, parseCommand } from '../parse.ts';

export const description =
  'Revoke an API key / JWT (jti), an application (consumer key), a user or an opaque token: publishes token-revoked to the stream.';
export const usage =
  'mesh-apim revoke (--jti <id> [--expires-at <ISO time>] | --consumer-key <key> | --user <id> | --token <token>) [--tenant <domain>] [--config <file>]';

type Values = {
  jti: string;
  'consumer-key': string;
  user: string;
  token: string;
  'expires-at': string;
  tenant: string;
  config: string;
  output: string;
};

export async function run(argv: string[], parsed?: Parsed<Values>): Promise<number> {
  const { values } = parsed ?? parseCommand<Values>('revoke', argv);
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
  const now = Date.now();
  const expiresAt = values['expires-at'];
  // A past expiry is pruned at once while the credential may still be valid: refuse it.
  if (expiresAt !== undefined && Date.parse(expiresAt) <= now) {
    process.stderr.write(
      `mesh-apim revoke: --expires-at ${expiresAt} is not in the future: the revocation would be forgotten at the next prune while the credential may still be valid. Give the credential's own expiry, or omit --expires-at to keep the entry.\n`,
    );
    return 2;
  }
  const events: {
    kind: 'jti' | 'consumer-key' | 'user' | 'token';
    value: string;
    expiresAt: string | null;
  }[] = [];
  const jwt = kind === 'token' ? jwtFacts(raw) : null;
  if (jwt) {
    // An API key (or JWT access token) is checked by its jti, never by digest: revoke the jti too.
    const exp = expiresAt === undefined ? jwt.exp : latest(expiresAt, jwt.exp);
    events.push({ kind: 'jti', value: jwt.jti, expiresAt: exp });
    process.stderr.write(`mesh-apim revoke: --token is a JWT: revoking its jti ${jwt.jti} and its digest\n`);
    events.push({ kind: 'token', value: tokenDigest(raw), expiresAt: exp });
  } else {
    // An opaque token is published as its SHA-256 digest, never as the live credential itself.
    events.push({ kind, value: kind === 'token' ? tokenDigest(raw) : raw, expiresAt: expiresAt ?? null });
  }
  const config = loadConfig({ file: values.config });
  const at = new Date(now).toISOString();
  const parsedEvents: TokenRevoked[] = [];
  for (const e of events) {
    const parsed = TokenRevoked.safeParse({
      type: 'token-revoked',
      schemaVersion: 1,
      eventId: `cli-${randomUUID()}`,
      occurredAt: at,
      kind: e.kind,
      value: e.value,
      revokedAt: at,
      expiresAt: e.expiresAt,
      tenantDomain: values.tenant ?? config.apim.tenant,
      source: 'cli',
    });
    if (!parsed.success) {
      process.stderr.write(`mesh-apim revoke: invalid revocation\n${z.prettifyError(parsed.error)}\n`);
      return 2;
    }
    parsedEvents.push(parsed.data);
  }
  const bus = createBus(config);
  try {
    const publisher = new EventPublisher(bus, config.bus.topicPrefix);
    for (const e of parsedEvents) await publisher.revoked(e);
  } finally {
    await bus.close();
  }
  for (const e of parsedEvents)
    process.stdout.write(output === 'json' ? `${JSON.stringify(e)}\n` : `${e.eventId}\n`);
  return 0;
}

/** The jti and expiry of a JWT-shaped token (decoded, not verified: the operator holds it), or null. */
function jwtFacts(token: string): { jti: string; exp: string | null } | null {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) return null;
  try {
    const claims = decodeJwt(token);
    if (typeof claims.jti !== 'string' || claims.jti === '') return null;
    const exp =
      typeof claims.exp === 'number' && Number.isFinite(claims.exp) && Math.abs(claims.exp) <= 8.64e12
        ? new Date(claims.exp * 1000).toISOString()
        : null;
    return { jti: claims.jti, exp };
  } catch {
    return null;
  }
}

/** The later expiry; null (keep forever) when either is unknown. */
function latest(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return null;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}
