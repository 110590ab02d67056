#!/usr/bin/env bash
# field.decode end to end on a GPU box (issue 4): builds the compute side against the box's
# PyTorch LibTorch (scripts/gpu-box-build.sh), runs every `gpu` test of the tree plus the
# LibTorch CPU tests (LibTorch 2.x there, 1.13 on Debian), fits the benchmark gyroid MLP
# (bench/make_bench_field_model.py) and times one decode-and-extract job stage by stage
# (bench/field_decode_job_bench). Run from the repository root:
#   bash bench/gpu/run-field-job.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-/tmp/kiln-gpu-build}
status=0
step() { echo; echo "=== $* ==="; }

# The carried Abseil/protobuf libraries: RUNPATH does not reach their own dependencies.
export LD_LIBRARY_PATH="${KILN_GPU_PREFIX:-/tmp/kiln-debs}/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

step "build"
scripts/gpu-box-build.sh "$build" 2>&1 | tail -5 || exit 1

step "gpu tests, and the LibTorch tests on this LibTorch"
ctest --test-dir "$build" --output-on-failure -L gpu || status=1
ctest --test-dir "$build" --output-on-failure -R "torch_tasks_test|kiln_exec_field_decode_test|tasks_test" || status=1
"$build/bin/torch_gpu_test" 2>&1 | grep -E "^\[|tolerance|max" || true

step "benchmark model"
python3 bench/make_bench_field_model.py "$build/bench-models" || exit 1

step "one decode-and-extract job, stage by stage (run 0 loads the model)"
"$build/bin/field_decode_job_bench" --model-repo="$build/bench-models" --model=bench-gyroid-mlp \
  --resolution=511 --runs=4 || status=1
"$build/bin/field_decode_job_bench" --model-repo="$build/bench-models" --model=bench-gyroid-mlp \
  --resolution=511 --runs=2 --normals || status=1
"$build/bin/field_decode_job_bench" --model-repo="$build/bench-models" --model=bench-gyroid-mlp \
  --resolution=255 --runs=3 || status=1
"$build/bin/field_decode_job_bench" --model-repo="$build/models" --model=kiln-torus \
  --resolution=255 --runs=2 || status=1
step "done (status $status)"
exit $status
