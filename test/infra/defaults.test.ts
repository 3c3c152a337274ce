/**
 * Defaults that live in more than one place must agree: the Lambda parameters (serverless.yml) with the
 * adapter's schema (common/config/index.ts), the deployment docs with serverless.yml, every MESH_APIM_* name the
 * docs and manifests mention with a real setting; and the in-cluster ConfigMap must select what the docs
 * describe (Lambdas, no ELK file sink, SQS revocation) while `npm start`'s embedded default stays.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  configLeaves,
  ENV_ALIASES,
  envName,
  loadConfig,
  NON_SETTING_ENV,
} from '../../common/config/index.ts';

const root = path.resolve(import.meta.dirname, '../..');
const read = (f: string) => readFileSync(path.join(root, f), 'utf8');
const leafByEnv = new Map(configLeaves().map((l) => [envName(l.path), l]));
// Intended differences: the file sink writes to a local disk, which a Lambda does not keep.
const LAMBDA_OWN_DEFAULTS = new Set(['analyticsSinks']);

// biome-ignore lint/suspicious/noExplicitAny: free-form serverless.yml
const sls = parse(read('serverless.yml')) as any;
const params = sls.params.default as Record<string, unknown>;
const envOf = (): [string, string][] =>
  [
    sls.provider.environment,
    ...Object.values(sls.functions).map((f) => (f as { environment?: object }).environment),
  ]
    .filter(Boolean)
    .flatMap((e) => Object.entries(e as Record<string, string>));

describe('Lambda defaults = adapter defaults', () => {
  it('every param a function receives as a setting defaults to the schema default', () => {
    const pairs = envOf()
      .map(([env, v]) => [env, /^\$\{param:(\w+)\}$/.exec(String(v))?.[1]] as const)
      .filter(
        (p): p is readonly [string, string] => !!p[1] && p[1] in params && !LAMBDA_OWN_DEFAULTS.has(p[1]),
      );
    expect(pairs.map(([, p]) => p)).toEqual(expect.arrayContaining(['staleQueueGraceMs', 'analyticsIndex']));
    for (const [env, param] of pairs) {
      const leaf = leafByEnv.get(env);
      expect(leaf, `${env} is not a setting`).toBeDefined();
      const def = leaf!.defaultValue;
      expect(String(params[param]), `${param} (${env})`).toBe(
        Array.isArray(def) ? def.join(',') : String(def),
      );
    }
  });

  it('the deployment docs list the parameters with serverless.yml defaults', () => {
    const rows = [...read('docs/deployment.md').matchAll(/^\| `(\w+)`\s+\| `([^`]*)`/gm)];
    const documented = new Map(rows.map((m) => [m[1]!, m[2]!]));
    for (const name of ['staleQueueGraceMs', 'analyticsIndex', 'adapterQueuePrefix', 'apimTenant']) {
      expect(documented.get(name), name).toBe(String(params[name]));
    }
  });
});

describe('every MESH_APIM_* variable named in docs and deployment files exists', () => {
  const NOT_SETTINGS = NON_SETTING_ENV;
  const files = (dir: string): string[] =>
    readdirSync(path.join(root, dir)).flatMap((n) => {
      const rel = path.join(dir, n);
      return statSync(path.join(root, rel)).isDirectory() ? files(rel) : [rel];
    });
  const sources = [
    'README.md',
    'serverless.yml',
    'Dockerfile',
    ...files('docs'),
    ...files('infra/k8s'),
    ...files('infra/istio'),
  ];
  it.each(sources)('%s', (file) => {
    // A name shown as the misspelling in an error message ("... (did you mean ...?)") is meant.
    const unknown = [...read(file).matchAll(/\bMESH_APIM_[A-Z0-9_]*[A-Z0-9]\b(?! \(did you mean)/g)]
      .map((m) => m[0])
      .filter((n) => !NOT_SETTINGS.has(n) && !leafByEnv.has(n) && !(n in ENV_ALIASES) && !n.endsWith('_'));
    expect(unknown).toEqual([]);
  });
});

describe('in-cluster ConfigMaps vs the embedded default', () => {
  it.each(['infra/k8s/base/config.yaml', 'infra/k8s/overlays/sidecar/example-app.yaml'])(
    '%s: the functions run as Lambdas, no ELK file sink, SQS revocation',
    (file) => {
      const cm = parseAllDocuments(read(file))
        .map((d) => d.toJS())
        .find((d) => d.kind === 'ConfigMap').data as Record<string, string>;
      const c = loadConfig({ env: cm });
      expect(c.functions.runLocal).toBe(false);
      expect(c.functions.analytics.sinks).not.toContain('file');
      expect(c.revocation.transport).toBe('sqs');
      expect(c.bus.kafka.replicationFactor).toBe(3);
    },
  );

  it('`npm start` (no environment) keeps the embedded default', () => {
    const c = loadConfig({ env: {} });
    expect(c.functions.runLocal).toBe(true);
    expect(c.functions.analytics.sinks).toEqual(['file']);
    expect(c.revocation.transport).toBe('local');
  });
});

describe('Helm chart', () => {
  it('its config values are the base ConfigMap (minus the listen addresses the chart derives)', () => {
    const values = parse(read('infra/helm/mesh-apim/values.yaml')) as { config: Record<string, string> };
    const base = parseAllDocuments(read('infra/k8s/base/config.yaml'))
      .map((d) => d.toJS())
      .find((d) => d.kind === 'ConfigMap').data as Record<string, string>;
    const { MESH_APIM_ADAPTER_GRPC_ADDRESS: _g, MESH_APIM_ADAPTER_ADMIN_ADDRESS: _a, ...rest } = base;
    expect(values.config).toEqual(rest);
  });
});
