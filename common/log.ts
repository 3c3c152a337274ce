import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type DestinationStream, type Logger, pino } from 'pino';
import { maskLogFields, maskUrlCredentials } from './redact.ts';

export type { Logger };

const level = process.env.MESH_APIM_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info';

export type LogFormat = 'json' | 'pretty';

/**
 * MESH_APIM_LOG_FORMAT=json|pretty decides; unset: pretty only for a person at a terminal, JSON
 * whenever stderr is not a TTY or the process runs in a container or Lambda (log collectors parse it).
 */
export function logFormat(
  env: NodeJS.ProcessEnv = process.env,
  isTTY = process.stderr.isTTY === true,
  inContainer = runsInContainer(env),
): LogFormat {
  const wanted = env.MESH_APIM_LOG_FORMAT?.trim().toLowerCase();
  if (wanted === 'json' || wanted === 'pretty') return wanted;
  if (wanted)
    throw new Error(`MESH_APIM_LOG_FORMAT must be json or pretty, got "${env.MESH_APIM_LOG_FORMAT}"`);
  return isTTY && !inContainer ? 'pretty' : 'json';
}

function runsInContainer(env: NodeJS.ProcessEnv): boolean {
  return Boolean(
    env.KUBERNETES_SERVICE_HOST ||
      env.AWS_LAMBDA_FUNCTION_NAME ||
      existsSync('/.dockerenv') ||
      existsSync('/run/.containerenv'),
  );
}

function destination(format: LogFormat): DestinationStream {
  if (format === 'json') return pino.destination({ fd: 2, sync: false });
  // Loaded only when chosen: Lambda bundles and JSON runs never load pino-pretty. Synchronous, so
  // lines and the start banner keep their order.
  const pretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => DestinationStream;
  return pretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service,component',
    messageFormat: '{if component}[{component}] {end}{msg}',
    singleLine: true,
  });
}

/**
 * Root logger: structured JSON on stderr (readable lines on a terminal). Kubernetes and Lambda
 * collect both streams; stderr keeps stdout clean for CLI output that scripts consume (`mesh-apim
 * apikey` prints only the key). Every record has URL user info masked and secret-named fields
 * replaced, so a credential in a URL or an error message never reaches the log.
 */
export const loggerOptions: pino.LoggerOptions = {
  level,
  base: { service: 'mesh-apim' },
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: {
    level: (label) => ({ level: label }),
    log: (obj) => maskLogFields(obj),
  },
  hooks: {
    logMethod(args, method) {
      for (let i = 0; i < args.length; i++) {
        if (typeof args[i] === 'string') args[i] = maskUrlCredentials(args[i] as string);
      }
      method.apply(this, args);
    },
  },
};

export const rootLogger: Logger = pino(loggerOptions, destination(logFormat()));

export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child(maskLogFields({ component, ...bindings }));
}
