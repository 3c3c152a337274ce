/**
 * The configuration schema, composed of the areas' slices: each area declares its settings (default and
 * description on every one) and its own cross-field rules next to the code that reads them. Only rules
 * spanning two areas live here.
 */
import { z } from 'zod';
import { AdapterConfigSchema } from '../../adapter/config.ts';
import { OAuthConfigSchema } from '../../adapter/credentials/config.ts';
import { EmitterConfigSchema } from '../../adapter/emit/config.ts';
import { RevocationConfigSchema } from '../../adapter/revocation/config.ts';
import { ApimConfigSchema } from '../../apim/config.ts';
import { BridgeConfigSchema } from '../../bridge/config.ts';
import { BusConfigSchema } from '../../bus/config.ts';
import { ControllerConfigSchema } from '../../controller/config.ts';
import { AutoCreatorConfigSchema, FunctionsConfigSchema } from '../../functions/config.ts';
import { ALWAYS } from './fields.ts';

export const ConfigSchema = z
  .object({
    dataDir: z
      .string()
      .default('.data')
      .describe(
        'Directory for durable local state: signing key, embedded log, spool, snapshots, analytics files.',
      ),
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
      .default('info')
      .describe('Log level of the structured JSON logs (stderr).'),
    instanceId: z
      .string()
      .default('')
      .describe('Identity of this process (queue names, event producer id); empty = hostname + pid.'),
    adapter: AdapterConfigSchema,
    apim: ApimConfigSchema,
    oauth: OAuthConfigSchema,
    bus: BusConfigSchema,
    emitter: EmitterConfigSchema,
    functions: FunctionsConfigSchema,
    controller: ControllerConfigSchema,
    autoCreator: AutoCreatorConfigSchema,
    revocation: RevocationConfigSchema,
    bridge: BridgeConfigSchema,
  })
  .superRefine((config, ctx) => {
    if (config.adapter?.controlPlane === 'apim' && !config.apim?.url) {
      ctx.addIssue({
        code: 'custom',
        path: ['apim', 'url'],
        message: 'adapter.controlPlane is apim but apim.url (APIM_URL) is empty',
      });
    }
  }, ALWAYS);

export type Config = z.infer<typeof ConfigSchema>;

/**
 * Settings that were renamed (grouped), old path -> new path. The old key is still accepted in a
 * config file and in programmatic overrides, and its derived MESH_APIM_* name in the environment when
 * that differs from the new one; docs/configuration.md lists them.
 */
export const KEY_ALIASES: Record<string, string> = {
  ...group('adapter', 'grpc', [
    'maxMessageBytes',
    'maxConcurrentStreams',
    'requestTimeoutMs',
    'keepaliveIntervalMs',
    'keepaliveTimeoutMs',
  ]),
  ...Object.fromEntries(
    (
      [
        ['Sinks', 'sinks'],
        ['Index', 'index'],
        ['RegionId', 'regionId'],
        ['GatewayType', 'gatewayType'],
        ['HttpUrl', 'http.url'],
        ['HttpUsername', 'http.username'],
        ['HttpPassword', 'http.password'],
        ['HttpTimeoutMs', 'http.timeoutMs'],
        ['HttpMaxAttempts', 'http.maxAttempts'],
        ['HttpBackoffMs', 'http.backoffMs'],
        ['FileDir', 'file.dir'],
        ['FileMaxBytes', 'file.maxBytes'],
        ['FileMaxFiles', 'file.maxFiles'],
        ['FileFsync', 'file.fsync'],
        ['FileDedupWindow', 'file.dedupWindow'],
      ] as const
    ).map(([from, to]) => [`functions.analytics${from}`, `functions.analytics.${to}`]),
  ),
  ...group('apim', 'publisher', ['url', 'username', 'password']),
  ...group('oauth', 'jwks', ['maxAgeMs', 'staleWindowMs', 'cooldownMs']),
  ...group('oauth', 'introspection', [
    'url',
    'keyManager',
    'clientId',
    'clientSecret',
    'clientAuth',
    'cacheMaxMs',
    'negativeCacheMs',
    'cacheMaxEntries',
    'timeoutMs',
    'failOpenApis',
  ]),
};

/** `area.prefixKey` -> `area.prefix.key` for each key. */
function group(area: string, prefix: string, keys: string[]): Record<string, string> {
  return Object.fromEntries(
    keys.map((k) => [`${area}.${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, `${area}.${prefix}.${k}`]),
  );
}
