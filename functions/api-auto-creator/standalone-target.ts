/**
 * The standalone default: instead of WSO2 API Manager, the API goes into the standalone control
 * plane as one fragment file per Service in the adapter's fragments directory
 * (<dataDir>/standalone.d/), which the adapter watches and merges without a restart. Resources come
 * from the OpenAPI paths. Files are written atomically (temp file + rename) and only when their
 * content changes, so a redelivered event touches nothing.
 */
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Logger } from '../../common/log.ts';
import type { ServiceDeleted, ServiceDeployed } from '../../events/service-lifecycle.ts';
import type { ApiTarget } from './core.ts';
import { AutoCreateError } from './errors.ts';
import type { OpenApiDefinition } from './openapi.ts';

export interface StandaloneTargetOptions {
  fragmentsDir: string;
  /** Applications (declared in the main standalone file) subscribed to every auto-created API. */
  subscribers: string[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

/** One file per Service: `svc.<cluster>.<namespace>.<name>.yaml`. */
export function fragmentFile(dir: string, service: ServiceDeployed['service']): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
  return join(dir, `svc.${safe(service.cluster)}.${safe(service.namespace)}.${safe(service.name)}.yaml`);
}

export function apiId(name: string, version: string): string {
  return `${name}-${version}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function fragmentFor(ev: ServiceDeployed, def: OpenApiDefinition, subscribers: string[]): string {
  const paths = def.document.paths as Record<string, Record<string, { security?: unknown[] }>>;
  const resources: { method: string; path: string; auth?: 'none' }[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!item || typeof item !== 'object') continue;
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      // `security: []` on an operation is OpenAPI for "no authentication".
      const open = Array.isArray(op.security) && op.security.length === 0;
      resources.push({ method: m.toUpperCase(), path, ...(open ? { auth: 'none' as const } : {}) });
    }
  }
  if (resources.length === 0)
    throw new AutoCreateError(
      'OPENAPI_NO_OPERATIONS',
      `${ev.api.name} ${ev.api.version}: the OpenAPI definition declares no operations`,
    );
  const id = apiId(ev.api.name, ev.api.version);
  const data = {
    apis: [
      {
        id,
        name: ev.api.name,
        version: ev.api.version,
        context: ev.api.context,
        lifecycle: 'PUBLISHED',
        // As the API Manager target configures it: API keys enabled, in the `apikey` header.
        securitySchemes: ['oauth2', 'api_key', 'oauth_basic_auth_api_key_mandatory'],
        apiKeyHeader: 'apikey',
        resources,
      },
    ],
    subscriptions: subscribers.map((application) => ({
      application,
      api: id,
      tier: ev.api.tiers[0] ?? 'Unlimited',
    })),
  };
  const header = [
    '# Written by mesh-apim api-auto-creator; do not edit (the next change of the Service overwrites it).',
    `# Service ${ev.service.cluster}/${ev.service.namespace}/${ev.service.name} uid ${ev.service.uid}`,
    `# upstream ${ev.api.endpoint}`,
  ].join('\n');
  return `${header}\n${stringify(data)}`;
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export class StandaloneTarget implements ApiTarget {
  constructor(
    private readonly options: StandaloneTargetOptions,
    private readonly log?: Logger,
  ) {}

  async deploy(ev: ServiceDeployed, def: OpenApiDefinition): Promise<{ action: string; file: string }> {
    const file = fragmentFile(this.options.fragmentsDir, ev.service);
    const text = fragmentFor(ev, def, this.options.subscribers);
    const current = await readOrNull(file);
    if (current === text) return { action: 'unchanged', file };
    await mkdir(this.options.fragmentsDir, { recursive: true });
    // The loader ignores dot-files: the temp file is never read half-written.
    const tmp = join(this.options.fragmentsDir, `.${process.pid}.${Date.now()}.tmp`);
    await writeFile(tmp, text, 'utf8');
    await rename(tmp, file);
    this.log?.info({ file, api: ev.api.name, version: ev.api.version }, 'standalone API fragment written');
    return { action: current === null ? 'created' : 'updated', file };
  }

  async remove(ev: ServiceDeleted): Promise<{ action: string; file: string }> {
    const file = fragmentFile(this.options.fragmentsDir, ev.service);
    try {
      await unlink(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { action: 'absent', file };
      throw err;
    }
    this.log?.info({ file, api: ev.api.name }, 'standalone API fragment removed');
    return { action: 'deleted', file };
  }
}
