#!/usr/bin/env python3
"""Every PodMonitor / ServiceMonitor in the given manifests scrapes something that exists in them.

    check-scrape-ports.py <manifests.yaml>...   (all files together form one cluster)

A PodMonitor's endpoint `port` must be the name of a container port of at least one pod template
(Deployment, StatefulSet, DaemonSet, Job, Pod) that its selector and namespaceSelector pick; a
ServiceMonitor's the name of a port of a Service it picks. kubeconform cannot see this (each object is
valid alone): a sidecar admin port renamed in the kustomize component and not in the chart, or the other
way round, leaves those adapters unscraped with every manifest valid. Exit 1 listing each problem.
Called by infra/validate.sh (which also proves a mismatch is rejected).
"""
import sys

import yaml

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def docs(paths):
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for d in yaml.safe_load_all(f):
                if isinstance(d, dict) and d.get("kind"):
                    yield d


def matches(selector, labels):
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        has, val, values = e["key"] in labels, labels.get(e["key"]), e.get("values") or []
        op = e["operator"]
        if (op == "In" and val not in values) or (op == "NotIn" and val in values):
            return False
        if (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return True


def in_namespaces(monitor, namespace):
    ns_sel = monitor["spec"].get("namespaceSelector") or {}
    if ns_sel.get("any"):
        return True
    names = ns_sel.get("matchNames")
    if names:
        return namespace in names
    return namespace == monitor["metadata"].get("namespace", "default")


def main(paths):
    objs = list(docs(paths))
    pods, services = [], []
    for d in objs:
        ns = d.get("metadata", {}).get("namespace", "default")
        if d["kind"] in WORKLOADS:
            tpl = d.get("spec", {}).get("template", {})
        elif d["kind"] == "Pod":
            tpl = d
        elif d["kind"] == "Service":
            names = {p.get("name") for p in d.get("spec", {}).get("ports") or []}
            services.append((f"Service {ns}/{d['metadata']['name']}", ns, d["metadata"].get("labels") or {}, names))
            continue
        else:
            continue
        labels = (tpl.get("metadata") or {}).get("labels") or {}
        spec = tpl.get("spec") or {}
        names = {
            p.get("name")
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
            for p in c.get("ports") or []
        }
        pods.append((f"{d['kind']} {ns}/{d['metadata']['name']}", ns, labels, names))

    problems, checked = [], 0
    for m in objs:
        if m["kind"] == "PodMonitor":
            targets, endpoints, what = pods, m["spec"].get("podMetricsEndpoints") or [], "pod template"
        elif m["kind"] == "ServiceMonitor":
            targets, endpoints, what = services, m["spec"].get("endpoints") or [], "Service"
        else:
            continue
        name = f"{m['kind']} {m['metadata'].get('namespace', 'default')}/{m['metadata']['name']}"
        picked = [t for t in targets if in_namespaces(m, t[1]) and matches(m["spec"].get("selector"), t[2])]
        if not picked:
            problems.append(f"{name}: selects no {what} in these manifests")
            continue
        for ep in endpoints:
            port = ep.get("port")
            checked += 1
            if not any(port in t[3] for t in picked):
                have = sorted({n for t in picked for n in t[3] if n})
                problems.append(
                    f"{name}: port {port!r} is not a port name of any {what} it selects "
                    f"({', '.join(t[0] for t in picked)}; their port names: {', '.join(have) or 'none'})"
                )
    for p in problems:
        print(f"scrape ports: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"scrape ports: {checked} monitor endpoints match a port of what they select")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
