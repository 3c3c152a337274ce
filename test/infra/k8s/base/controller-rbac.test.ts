import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const read = (file: string) =>
  parseAllDocuments(readFileSync(new URL(`../../../../infra/k8s/base/${file}`, import.meta.url), 'utf8')).map(
    (d) => d.toJS() as Record<string, unknown>,
  );
const docs = read('controller-rbac.yaml');
// The base's Namespace is shared by everything in it; kustomization.yaml lists both files.
const base = [...docs, ...read('namespace.yaml')];

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };

function allowed(rules: Rule[], resource: string, verb: string): boolean {
  return rules.some(
    (r) => r.apiGroups.includes('') && r.resources.includes(resource) && r.verbs.includes(verb),
  );
}

describe('infra/k8s/base/controller-rbac.yaml', () => {
  const role = docs.find((d) => d.kind === 'ClusterRole') as { rules: Rule[]; metadata: { name: string } };
  const binding = docs.find((d) => d.kind === 'ClusterRoleBinding') as {
    roleRef: { name: string };
    subjects: { kind: string; name: string; namespace: string }[];
  };
  const sa = docs.find((d) => d.kind === 'ServiceAccount') as {
    metadata: { name: string; namespace: string };
  };

  it('binds the role to the service account it declares', () => {
    expect(binding.roleRef.name).toBe(role.metadata.name);
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace },
    ]);
    expect(
      base.some(
        (d) => d.kind === 'Namespace' && (d.metadata as { name: string }).name === sa.metadata.namespace,
      ),
    ).toBe(true);
  });

  it('grants every request the controller makes (controller/kube.ts), and nothing that writes Services', () => {
    const needed = new Set(['services:list', 'services:watch', 'configmaps:get', 'events:create']);
    for (const n of needed) {
      const [resource, verb] = n.split(':') as [string, string];
      expect(allowed(role.rules, resource, verb), n).toBe(true);
    }
    expect(role.rules.flatMap((r) => r.verbs)).not.toContain('delete');
    expect(role.rules.flatMap((r) => r.verbs)).not.toContain('update');
  });
});
