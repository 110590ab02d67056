#!/usr/bin/env bash
# Sets everything up, builds, and runs every test (unit and end-to-end) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
bash scripts/build.sh
# The compute-only configuration (no gRPC, no RocksDB) must keep building. Its CUDA and
# LibTorch code is compiled by the main build already and, in this configuration, by
# scripts/gpu-box-build.sh on the GPU box; here it is left out to keep CI short.
KILN_BUILD_DIR=${KILN_BUILD_DIR:-build}-exec bash scripts/build.sh -DKILN_COMPONENTS=exec \
  -DKILN_BUILD_TESTS=OFF -DKILN_WITH_CUDA=OFF -DKILN_WITH_TORCH=OFF
build_dir=${KILN_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j "${KILN_JOBS:-2}"
