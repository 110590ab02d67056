#!/usr/bin/env bash
# The Helm chart's test: helm lint and helm template of helm/kiln with every values file in
# helm/kiln/ci/, the rendered objects validated offline against the Kubernetes 1.29 API
# (validate_manifests.js) and checked for what each values file asks (chart_expectations.js),
# the validator shown to reject broken manifests, bad values rejected with the field named,
# and the chart's copies of the dashboards and alert rules equal to deploy/.
# Usage: helm_chart_test.sh SOURCE_DIR WORK_DIR
# Needs `npm ci` in tests/helm (scripts/test.sh runs it). A missing tool fails the test.
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
chart=$src/helm/kiln
failures=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

mkdir -p "$work"
# shellcheck source=tests/helm/helm_tools.sh
source "$src/tests/helm/helm_tools.sh"

echo "== copies of deploy/ in the chart"
for f in "$src"/deploy/grafana/dashboards/*.json; do
  cmp -s "$f" "$chart/files/dashboards/$(basename "$f")" ||
    fail "helm/kiln/files/dashboards/$(basename "$f") differs from deploy/grafana/dashboards: cp deploy/grafana/dashboards/*.json helm/kiln/files/dashboards/"
done
for f in "$chart"/files/dashboards/*.json; do
  [ -e "$src/deploy/grafana/dashboards/$(basename "$f")" ] ||
    fail "helm/kiln/files/dashboards/$(basename "$f") has no source in deploy/grafana/dashboards"
done
cmp -s "$src/deploy/prometheus/rules/kiln-alerts.yml" "$chart/files/kiln-alerts.yml" ||
  fail "helm/kiln/files/kiln-alerts.yml differs from deploy/prometheus/rules/kiln-alerts.yml"

echo "== lint, render, validate"
cases=0
mkdir -p "$work/rendered"
for values in "$chart"/ci/*-values.yaml; do
  name=$(basename "$values" .yaml)
  cases=$((cases + 1))
  out=$work/rendered/$name.yaml
  "$helm" lint --strict "$chart" -f "$values" >"$work/rendered/$name.lint" 2>&1 ||
    { cat "$work/rendered/$name.lint" >&2; fail "helm lint $name"; continue; }
  "$helm" template kiln "$chart" --namespace default -f "$values" >"$out" ||
    { fail "helm template $name"; continue; }
  node "$src/tests/helm/validate_manifests.js" "$out" || fail "$name: rendered objects are not valid Kubernetes 1.29"
  node "$src/tests/helm/chart_expectations.js" "$name" "$out" || fail "$name: expectations"
done
[ "$cases" -ge 3 ] || fail "expected at least 3 values files in helm/kiln/ci, found $cases"
# The default values render too.
if "$helm" template kiln "$chart" --namespace default >"$work/rendered/defaults.yaml"; then
  node "$src/tests/helm/validate_manifests.js" "$work/rendered/defaults.yaml" || fail "defaults: invalid"
else
  fail "helm template with the default values"
fi

echo "== the validator rejects broken manifests"
if node "$src/tests/helm/validate_manifests.js" "$src/tests/helm/testdata/invalid-manifests.yaml" \
    >"$work/invalid.out" 2>&1; then
  fail "validate_manifests.js accepted testdata/invalid-manifests.yaml"
fi
for expected in 'labels.gpu-major: expected a string' 'nodeSelecter: unknown field' \
                'grpc must have required property port' 'port: expected a number' \
                'policy/v1beta1 PodDisruptionBudget is not a Kubernetes 1.29 API type' \
                'ServiceMonitor/m: schema'; do
  grep -qF -- "$expected" "$work/invalid.out" || fail "validator did not report: $expected"
done

echo "== bad values are rejected, naming what is wrong"
reject() {  # reject LABEL EXPECTED_TEXT VALUES_YAML
  local label=$1 expected=$2
  printf '%s\n' "$3" >"$work/bad-values.yaml"
  if "$helm" template kiln "$chart" -f "$work/bad-values.yaml" >"$work/bad.out" 2>&1; then
    fail "$label: helm template accepted it"
  elif ! grep -qF -- "$expected" "$work/bad.out"; then
    cat "$work/bad.out" >&2
    fail "$label: error does not mention '$expected'"
  fi
}
reject "pool without a name" "name" 'workerPools: [{replicas: 1, slots: 1}]'
reject "misspelt pool key" "nodeSelecter" 'workerPools: [{name: a, slots: 1, nodeSelecter: {a: b}}]'
reject "pool name not a DNS label" "workerPools.0.name" 'workerPools: [{name: Big_Pool, slots: 1}]'
reject "pool with neither slots nor GPUs" "needs slots > 0" 'workerPools: [{name: a, slots: 0, gpus: 0}]'
reject "duplicate pool names" 'pool name "a" is used twice' 'workerPools: [{name: a, slots: 1}, {name: a, slots: 2}]'
reject "bad duration" "leaseDuration" 'scheduler: {leaseDuration: "30 seconds"}'
reject "bad log format" "logFormat" 'logFormat: xml'
reject "TLS without its Secret" "tls.secretName is required" 'tls: {enabled: true}'
reject "mutual TLS without the workers' Secret" "tls.workerSecretName is required" \
  'tls: {enabled: true, secretName: s, mutual: true}'
reject "tokens without the workers' token" "auth.workerTokenSecret is required" \
  'auth: {tokensSecret: t}'

if [ "$failures" -ne 0 ]; then
  echo "helm chart test: $failures failure(s)" >&2
  exit 1
fi
echo "helm chart test: $cases values files rendered and validated, all checks passed"
