/**
 * What the schemas cannot say about the deployment files: the pieces have to agree with each other
 * (ports, names, providers, labels) and with the adapter's contract (health endpoints, settings).
 * Schema validity itself is checked by infra/validate.sh (kubeconform, cfn-lint, hadolint).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');
// biome-ignore lint/suspicious/noExplicitAny: free-form parsed manifests
type Obj = Record<string, any>;
const docs = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(path.join(root, file), 'utf8')).map((d) => d.toJS() as Obj);
const find = (file: string, kind: string, name?: string): Obj => {
  const d = docs(file).find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!d) throw new Error(`${file}: no ${kind} ${name ?? ''}`);
  return d;
};

const ADAPTER = 'infra/k8s/adapter/adapter.yaml';
const SIDECAR = 'infra/k8s/components/adapter-sidecar/adapter-container.yaml';
const mesh = parse(readFileSync(path.join(root, 'infra/istio/mesh-config.yaml'), 'utf8')).meshConfig as Obj;
const provider = (name: string): Obj => {
  const p = (mesh.extensionProviders as Obj[]).find((x) => x.name === name);
  if (!p) throw new Error(`no extension provider ${name}`);
  return p;
};

describe('mesh path normalisation', () => {
  it('Envoy merges slashes after RFC 3986 normalisation, the form the adapter matches on (issue 19 item 1)', () => {
    expect(mesh.pathNormalization).toEqual({ normalization: 'MERGE_SLASHES' });
  });
});

describe('adapter in deployment mode', () => {
  const svc = find(ADAPTER, 'Service');
  const dep = find(ADAPTER, 'Deployment');
  const c = dep.spec.template.spec.containers[0];

  it('exposes the gRPC port under a grpc- name (ext_authz + ALS) and the admin port', () => {
    expect(svc.spec.ports).toEqual([
      { name: 'grpc-authz', port: 9191, targetPort: 'grpc-authz', appProtocol: 'grpc' },
      { name: 'http-admin', port: 9192, targetPort: 'http-admin', appProtocol: 'http' },
    ]);
    expect(c.ports).toEqual([
      { name: 'grpc-authz', containerPort: 9191 },
      { name: 'http-admin', containerPort: 9192 },
    ]);
  });

  it('probes /healthz (startup, liveness) and /readyz (readiness) on the admin port', () => {
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http-admin' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-admin' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-admin' });
  });

  it('has requests and a memory limit, runs non-root read-only', () => {
    expect(c.resources.requests.cpu).toBeTruthy();
    expect(c.resources.requests.memory).toBeTruthy();
    expect(c.resources.limits.memory).toBeTruthy();
    expect(dep.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(dep.spec.template.spec.securityContext.runAsUser).toBe(1000);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(dep.spec.template.spec.serviceAccountName).toBe(find(ADAPTER, 'ServiceAccount').metadata.name);
  });

  it('PDB and HPA select/target this Deployment', () => {
    const labels = dep.spec.template.metadata.labels;
    const pdb = find(ADAPTER, 'PodDisruptionBudget');
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(labels[k]).toBe(v);
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(labels[k]).toBe(v);
    const hpa = find(ADAPTER, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: dep.metadata.name,
    });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(pdb.spec.minAvailable + 1);
  });

  it('is what the deployment-mode providers call', () => {
    const host = `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`;
    for (const name of ['mesh-apim-ext-authz', 'mesh-apim-als']) {
      const p = provider(name);
      const cfg = p.envoyExtAuthzGrpc ?? p.envoyHttpAls;
      expect(cfg.service).toBe(host);
      expect(cfg.port).toBe(9191);
    }
  });
});

describe('Istio configuration', () => {
  it('ext_authz providers fail closed with a timeout and 503 on error', () => {
    for (const name of ['mesh-apim-ext-authz', 'mesh-apim-ext-authz-local']) {
      const p = provider(name).envoyExtAuthzGrpc;
      expect(p.timeout).toMatch(/^\d+(\.\d+)?s$/);
      expect(p.failOpen).toBe(false);
      expect(p.statusOnError).toBe('503');
    }
  });

  it.each([
    ['deployment', 'mesh-apim-ext-authz', 'mesh-apim-als'],
    ['sidecar', 'mesh-apim-ext-authz-local', 'mesh-apim-als-local'],
  ])('%s mode: CUSTOM policy and Telemetry use that mode’s providers', (mode, authz, als) => {
    const ap = find(`infra/istio/${mode}/authorization-policy.yaml`, 'AuthorizationPolicy');
    expect(ap.spec.action).toBe('CUSTOM');
    expect(ap.spec.provider.name).toBe(authz);
    expect(ap.spec.selector.matchLabels).toEqual({ 'mesh-apim.io/expose': 'true' });
    const tel = find(`infra/istio/${mode}/telemetry.yaml`, 'Telemetry');
    expect(tel.spec.accessLogging[0].providers).toEqual([{ name: als }]);
    provider(authz);
    provider(als);
  });

  it('sidecar mode: the ServiceEntry maps the local providers’ host to the adapter on loopback', () => {
    const se = find('infra/istio/sidecar/service-entry.yaml', 'ServiceEntry');
    const host = provider('mesh-apim-ext-authz-local').envoyExtAuthzGrpc.service;
    expect(provider('mesh-apim-als-local').envoyHttpAls.service).toBe(host);
    expect(se.spec.hosts).toEqual([host]);
    expect(se.spec.endpoints).toEqual([{ address: '127.0.0.1' }]);
    expect(se.spec.ports).toEqual([{ name: 'grpc-authz', number: 9191, protocol: 'GRPC' }]);
    expect(se.spec.resolution).toBe('STATIC');
    const c = find(SIDECAR, 'Deployment').spec.template.spec.containers[0];
    const env = Object.fromEntries((c.env as Obj[]).filter((e) => e.value).map((e) => [e.name, e.value]));
    expect(env.MESH_APIM_ADAPTER_GRPC_ADDRESS).toBe('127.0.0.1:9191');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
  });
});

describe('controller RBAC', () => {
  it('may read services and configmaps and record events, nothing else', () => {
    const kustomization = parse(readFileSync(path.join(root, 'infra/k8s/base/kustomization.yaml'), 'utf8'));
    expect(kustomization.resources).toContain('controller-rbac.yaml');
    const role = find('infra/k8s/base/controller-rbac.yaml', 'ClusterRole');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    const binding = find('infra/k8s/base/controller-rbac.yaml', 'ClusterRoleBinding');
    const dep = find('infra/k8s/base/controller.yaml', 'Deployment');
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: dep.spec.template.spec.serviceAccountName, namespace: 'mesh-apim' },
    ]);
  });
});

describe('settings used by the manifests', () => {
  const documented = new Set(
    [...readFileSync(path.join(root, 'docs/configuration.md'), 'utf8').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map(
      (m) => m[1],
    ),
  );
  it.each(['infra/k8s/base/config.yaml', 'infra/k8s/overlays/sidecar/example-app.yaml', ADAPTER, SIDECAR])(
    '%s: every variable is a documented setting',
    (file) => {
      const names: string[] = [];
      for (const d of docs(file)) {
        if (d.kind === 'ConfigMap') names.push(...Object.keys(d.data));
        for (const c of d.spec?.template?.spec?.containers ?? [])
          names.push(...(c.env ?? []).map((e: Obj) => e.name));
      }
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) expect(documented.has(n), n).toBe(true);
    },
  );
});

describe('Dockerfile', () => {
  const text = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => !l.startsWith('#'));
  const stages = lines.filter((l) => l.startsWith('FROM '));

  it('is multi-stage and installs production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/npm ci --omit=dev/);
    const runtime = text.slice(text.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/COPY --from=deps .*node_modules/);
    expect(runtime).not.toMatch(/npm (ci|install)/);
  });

  it('runs as a numeric non-root user with an init as PID 1 and a health check', () => {
    const user = lines.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toMatch(/^USER [1-9]\d*(:\d+)?$/);
    expect(lines.find((l) => l.startsWith('ENTRYPOINT'))).toMatch(/tini", "--", "node"/);
    expect(text).toMatch(/HEALTHCHECK .*\n?.*CMD \["node", "infra\/docker\/healthcheck\.mjs"\]/);
  });
});

describe('who may call the adapter (deployment mode)', () => {
  const svc = find(ADAPTER, 'Service');
  const port = (name: string) => (svc.spec.ports as Obj[]).find((p) => p.name === name)!.port as number;
  const selector = find(ADAPTER, 'Deployment').spec.selector.matchLabels;
  const callers = find('infra/istio/deployment/adapter-callers.yaml', 'AuthorizationPolicy');
  const gatewayAp = find('infra/istio/ingress-gateway/authorization-policy.yaml', 'AuthorizationPolicy');

  it('the ALLOW policy selects the adapter and admits only the gRPC and admin ports', () => {
    expect(callers.spec.action).toBe('ALLOW');
    expect(callers.metadata.namespace).toBe(find(ADAPTER, 'Deployment').metadata.namespace);
    expect(callers.spec.selector.matchLabels).toEqual(selector);
    const ports = (callers.spec.rules as Obj[]).flatMap((r) =>
      (r.to as Obj[]).flatMap((t) => t.operation.ports),
    );
    expect(ports.sort()).toEqual([String(port('grpc-authz')), String(port('http-admin'))].sort());
  });

  it('the gateway identity may call the gRPC port (ingress-gateway mode)', () => {
    const grpcRule = (callers.spec.rules as Obj[]).find((r) => r.to[0].operation.ports.includes('9191'))!;
    const principals = (grpcRule.from as Obj[]).flatMap((f) => f.source.principals ?? []);
    expect(principals).toContain('cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account');
    expect(gatewayAp.spec.action).toBe('CUSTOM');
    expect(gatewayAp.spec.provider.name).toBe('mesh-apim-ext-authz');
    provider(gatewayAp.spec.provider.name);
  });

  it('the NetworkPolicy admits exactly the container ports (plus Istio merged metrics)', () => {
    const np = find('infra/k8s/adapter/network-policy.yaml', 'NetworkPolicy');
    expect(np.spec.podSelector.matchLabels).toEqual(selector);
    const ports = (np.spec.ingress as Obj[])
      .flatMap((r) => (r.ports as Obj[]).map((p) => p.port as number))
      .sort((a, b) => a - b);
    expect(ports).toEqual([9191, 9192, 15020]);
  });

  it('access logs come per namespace from selected workloads, not mesh-wide', () => {
    for (const file of [
      'infra/istio/deployment/telemetry.yaml',
      'infra/istio/sidecar/telemetry.yaml',
      'infra/istio/ingress-gateway/telemetry.yaml',
    ]) {
      const tel = find(file, 'Telemetry');
      expect(tel.spec.selector?.matchLabels, file).toBeTruthy();
    }
    const gwTel = find('infra/istio/ingress-gateway/telemetry.yaml', 'Telemetry');
    expect(gwTel.spec.selector.matchLabels).toEqual(gatewayAp.spec.selector.matchLabels);
  });
});

describe('graceful stop (deployment mode)', () => {
  it('preStop sleep + drain + final flush fit the termination grace period', async () => {
    const { loadConfig } = await import('../../common/config/index.ts');
    const dep = find(ADAPTER, 'Deployment');
    const c = dep.spec.template.spec.containers[0];
    const cm = find('infra/k8s/base/config.yaml', 'ConfigMap').data as Record<string, string>;
    const config = loadConfig({ env: cm });
    const preStop = c.lifecycle.preStop.sleep.seconds as number;
    expect(preStop).toBeGreaterThan(0);
    expect(config.adapter.drainMs).toBeGreaterThan(0);
    // 5 s for the revocation queue deletion and process exit.
    const needed = preStop + config.adapter.drainMs / 1000 + config.emitter.stopTimeoutMs / 1000 + 5;
    expect(needed).toBeLessThanOrEqual(dep.spec.template.spec.terminationGracePeriodSeconds);
  });
});

describe('controller and bridge health', () => {
  it.each([
    ['infra/k8s/base/controller.yaml', 'MESH_APIM_CONTROLLER_ADMIN_ADDRESS'],
    ['infra/k8s/base/bridge.yaml', 'MESH_APIM_BRIDGE_ADMIN_ADDRESS'],
  ])('%s: the admin address it sets is the port its probes use', (file, envName) => {
    const c = find(file, 'Deployment').spec.template.spec.containers[0];
    const addr = (c.env as Obj[]).find((e) => e.name === envName)!.value as string;
    const port = (c.ports as Obj[]).find((p) => p.name === 'http-admin')!;
    expect(Number(addr.split(':')[1])).toBe(port.containerPort);
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http-admin' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-admin' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-admin' });
  });
});
