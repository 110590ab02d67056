#!/usr/bin/env bash
# Field decode on a GPU box (issue 4): builds worker/fieldnet standalone (library, tests,
# field_decode_bench), runs its tests (CPU + `gpu` label), the PyTorch eager baseline and
# the fused benchmark on the same GPU, printing everything. Run from anywhere:
#   bash bench/gpu/run-field-decode.sh
# Environment: BUILD_DIR (default build-fieldnet-gpu), OUT_DIR (default $BUILD_DIR/out),
# CUDA_ARCHS (default: the first GPU's sm, e.g. 90-real), CHUNKS (comma list),
# RUNS (default 7), NVCC (default /usr/local/cuda/bin/nvcc).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build-fieldnet-gpu}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/out}
RUNS=${RUNS:-7}
CHUNKS=${CHUNKS:-16384,65536,262144,1048576,4194304}
NVCC=${NVCC:-/usr/local/cuda/bin/nvcc}
if [[ -z "${CUDA_ARCHS:-}" ]]; then
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  CUDA_ARCHS=${cc:+${cc}-real}
  CUDA_ARCHS=${CUDA_ARCHS:-80-real;86-real;89-real;90-real;100-real;120}
fi
GENERATOR="Unix Makefiles"
command -v ninja >/dev/null && GENERATOR=Ninja
status=0
step() { echo; echo "=== $* ==="; }

step "machine"
date -u
nvidia-smi --query-gpu=name,compute_cap,memory.total,clocks.max.sm,driver_version --format=csv
"$NVCC" --version | tail -1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
git log -1 --oneline 2>/dev/null || true

step "build (archs $CUDA_ARCHS, $GENERATOR)"
cmake -S worker/fieldnet -B "$BUILD_DIR" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_COMPILER="$NVCC" "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS" || exit 1
cmake --build "$BUILD_DIR" -j "$(nproc)" || exit 1

step "tests (CPU, then label gpu verbosely: it prints the measured errors)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -LE gpu || status=1
ctest --test-dir "$BUILD_DIR" -V -L gpu || status=1

step "PyTorch eager bf16 baseline (chunks $CHUNKS)"
mkdir -p "$OUT_DIR"
python3 bench/field_decode_pytorch.py --out-dir "$OUT_DIR" --chunks "$CHUNKS" --runs "$RUNS" \
  || exit 1

step "fused decode: bf16 and fp16 at every chunk size, fp32 at one"
"$BUILD_DIR/field_decode_bench" --dir="$OUT_DIR" --runs="$RUNS" --precisions=bf16,fp16 \
  --chunks="$CHUNKS" || status=1
"$BUILD_DIR/field_decode_bench" --dir="$OUT_DIR" --runs=5 --precisions=fp32 \
  --chunks=1048576 --no-variants || status=1

step "done (status $status)"
exit $status
