import { type Logger, pino } from 'pino';

export type { Logger };

const level = process.env.MESH_APIM_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info';

/**
 * Root logger: structured JSON on stderr. Kubernetes and Lambda collect both streams; stderr keeps
 * stdout clean for CLI output that scripts consume (`mesh-apim apikey` prints only the key).
 */
export const rootLogger: Logger = pino(
  {
    level,
    base: { service: 'mesh-apim' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  pino.destination({ fd: 2, sync: false }),
);

export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
