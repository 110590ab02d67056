#!/usr/bin/env bash
# Sets everything up, builds, starts a local farm (a scheduler with its RocksDB
# under ./kiln-demo and one worker), submits a real mesh.extract job with kilnctl,
# waits for it, fetches the PLY, prints where it is; then the same for a field.decode job
# on the built-in neural SDF model; and shuts the farm down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
bash scripts/build.sh
bin=${KILN_BUILD_DIR:-build}/bin
demo=${KILN_DEMO_DIR:-$PWD/kiln-demo}
mkdir -p "$demo"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

rm -f "$demo/scheduler.port" "$demo/dashboard.port"
# The dashboard (docs/dashboard.md) on KILN_DASHBOARD_PORT (default 8080; 0: any free port).
"$bin/kiln-scheduler" --listen=127.0.0.1:0 --data-dir="$demo/scheduler" \
  --port-file="$demo/scheduler.port" \
  --http-listen="127.0.0.1:${KILN_DASHBOARD_PORT:-8080}" --http-port-file="$demo/dashboard.port" \
  2>>"$demo/scheduler.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$demo/scheduler.port" ] && break; sleep 0.1; done
[ -s "$demo/scheduler.port" ] || { echo "demo: scheduler did not start; see $demo/scheduler.log" >&2; exit 1; }
export KILN_ADDR="127.0.0.1:$(cat "$demo/scheduler.port")"
echo "demo: scheduler on $KILN_ADDR, data in $demo/scheduler"
echo "demo: dashboard on http://127.0.0.1:$(cat "$demo/dashboard.port")/"

"$bin/kiln-worker" --scheduler="$KILN_ADDR" --work-dir="$demo/worker" --slots=1 \
  2>>"$demo/worker.log" &
pids+=($!)

# A block with a spherical bite out of its top face, 96 cells along its longest side.
params='{"shape":{"type":"difference","children":[
  {"type":"box","size":[2.0,1.2,0.6]},
  {"type":"sphere","radius":0.5,"center":[0.6,0,0.3]}]},"resolution":96}'
job=$("$bin/kilnctl" submit mesh.extract --params "$params" --label demo=readme --wait)
echo "demo: job $job succeeded"
"$bin/kilnctl" describe "$job"
out=$("$bin/kilnctl" fetch "$job" --dir "$demo/outputs")
echo "demo: output file: $out"

# A neural field: the built-in kiln-torus@1 (a 3x64 ReLU MLP the build fitted to a torus
# with LibTorch) decoded on a 96-cube grid and meshed, on whatever slot has the model.
job=$("$bin/kilnctl" submit field.decode --model kiln-torus --params '{"resolution":96}' \
  --label demo=readme --wait)
echo "demo: job $job succeeded"
out=$("$bin/kilnctl" fetch "$job" --dir "$demo/outputs")
echo "demo: output file: $out"
