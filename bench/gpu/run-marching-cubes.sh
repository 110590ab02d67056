#!/usr/bin/env bash
# CUDA marching cubes on a GPU box (issue 4): builds worker/tasks/cuda standalone (CUDA,
# CMake and GoogleTest only: no Abseil, no protobuf), runs its tests (the CPU emulation
# and the `gpu` label: CUDA mesh == CPU mesh), compute-sanitizer on the small GPU tests
# when it is installed, then marching_cubes_bench and the scikit-image baseline on the
# same fields, and prints one joined line per case with the speedups. Run from anywhere:
#   bash bench/gpu/run-marching-cubes.sh
# Environment: BUILD_DIR (default build-mc-gpu), OUT_DIR (default $BUILD_DIR/out),
# CUDA_ARCHS (default: the shipping list, SASS 75..120 + PTX 120; e.g. 90-real to build
# faster), SIZES (default 256,512), RUNS (default 20), CPU_RUNS (default 3),
# SKIMAGE_RUNS (default 3), NVCC (default /usr/local/cuda/bin/nvcc).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build-mc-gpu}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/out}
SIZES=${SIZES:-256,512}
RUNS=${RUNS:-20}
CPU_RUNS=${CPU_RUNS:-3}
SKIMAGE_RUNS=${SKIMAGE_RUNS:-3}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
ARCH_FLAG=()
[[ -n "${CUDA_ARCHS:-}" ]] && ARCH_FLAG=("-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS")
GENERATOR="Unix Makefiles"
command -v ninja >/dev/null && GENERATOR=Ninja
status=0
step() { echo; echo "=== $* ==="; }
mkdir -p "$OUT_DIR"

step "machine"
date -u
nvidia-smi --query-gpu=name,compute_cap,memory.total,clocks.max.sm,clocks.max.mem,driver_version \
  --format=csv
"$NVCC" --version | tail -1
nproc
git log -1 --oneline 2>/dev/null || true

step "build ($GENERATOR, archs ${CUDA_ARCHS:-default})"
cmake -S worker/tasks/cuda -B "$BUILD_DIR" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_COMPILER="$NVCC" "${ARCH_FLAG[@]}" || exit 1
cmake --build "$BUILD_DIR" -j "$(nproc)" || exit 1

step "tests (CPU emulation + gpu label)"
ctest --test-dir "$BUILD_DIR" --output-on-failure || status=1
# The GPU test prints per-field counts and the largest CPU/GPU differences.
"$BUILD_DIR/marching_cubes_cuda_gpu_test" 2>&1 | tee "$OUT_DIR/gpu_test.txt" \
  | grep -E "^device|vertices|OK|FAILED|SKIPPED|Failure" || true

step "more than 2^31 samples (1291^3 sphere vs the CPU path; about a minute)"
"$BUILD_DIR/marching_cubes_cuda_gpu_test" --gtest_also_run_disabled_tests \
  --gtest_filter='*MoreThanTwoTo31Samples*' 2>&1 | tee "$OUT_DIR/gpu_test_large.txt" \
  | grep -E "samples:|OK|FAILED|SKIPPED|Failure" || true
grep -q "FAILED" "$OUT_DIR/gpu_test_large.txt" && status=1

SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [[ -x "$SANITIZER" ]]; then
  FILTER='*RandomFields*:*NotCubes*:*BadInput*:*Empty*:*NonFinite*'
  for tool in memcheck racecheck synccheck initcheck; do
    step "compute-sanitizer --tool $tool (small GPU tests)"
    "$SANITIZER" --tool "$tool" --error-exitcode 9 \
      "$BUILD_DIR/marching_cubes_cuda_gpu_test" --gtest_filter="$FILTER" \
      > "$OUT_DIR/sanitizer_$tool.txt" 2>&1 || { status=1; echo "$tool: FAILED"; }
    tail -3 "$OUT_DIR/sanitizer_$tool.txt"
  done
else
  echo "(compute-sanitizer not installed: skipped)"
fi

step "marching_cubes_bench (sizes $SIZES, $RUNS GPU runs, $CPU_RUNS CPU runs)"
"$BUILD_DIR/marching_cubes_bench" --sizes="$SIZES" --fields=sphere,gyroid --runs="$RUNS" \
  --cpu-runs="$CPU_RUNS" | tee "$OUT_DIR/marching_cubes_bench.txt" || status=1

step "scikit-image baseline (same fields)"
python3 bench/skimage_marching_cubes.py --sizes "$SIZES" --fields sphere,gyroid \
  --runs "$SKIMAGE_RUNS" | tee "$OUT_DIR/skimage.txt" || status=1

step "joined (GPU median vs scikit-image and CPU path)"
python3 - "$OUT_DIR/marching_cubes_bench.txt" "$OUT_DIR/skimage.txt" <<'EOF'
import shlex, sys
def cases(path, tag):
    out = {}
    for line in open(path):
        if not line.startswith(tag + " "):
            continue
        kv = dict(p.split("=", 1) for p in shlex.split(line)[1:])
        out[(kv["size"], kv["field"])] = kv
    return out
gpu = cases(sys.argv[1], "marching_cubes")
ski = cases(sys.argv[2], "skimage_marching_cubes")
for key, g in sorted(gpu.items()):
    s = ski.get(key)
    gpu_s = float(g["gpu_median_ms"]) / 1e3
    line = (f"summary size={key[0]} field={key[1]} faces={g['faces']} "
            f"gpu_median_ms={g['gpu_median_ms']} effective_gbps={g['effective_gbps']} "
            f"pct_of_peak={g['pct_of_peak']} cpu_median_s={g['cpu_median_s']} "
            f"speedup_vs_cpu={g['speedup_vs_cpu']}")
    if s:
        line += (f" skimage_median_s={s['median_s']} "
                 f"speedup_vs_skimage={float(s['median_s']) / gpu_s:.0f} "
                 f"skimage_faces={s['faces']} same_counts_as_skimage="
                 f"{int(s['faces'] == g['faces'] and s['vertices'] == g['vertices'])}")
    print(line)
EOF

echo
echo "outputs in $OUT_DIR; exit status $status"
exit $status
