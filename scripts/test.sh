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
# Tests that run Node.js need their pinned npm packages: the foreign gRPC client
# (tests/node_client), the Khronos glTF validator (tests/gltf), helm, kubectl and the
# Kubernetes API models (tests/helm), three.js and playwright-core for the dashboard
# (scheduler/http/web; build.sh already ran npm ci there, the build embeds three.js).
# Their CTest tests fail without them. npm ci only when node_modules is older than the
# lock file (npm writes node_modules/.package-lock.json).
for node_dir in tests/node_client tests/gltf tests/helm scheduler/http/web; do
  if [ ! -f "$node_dir/node_modules/.package-lock.json" ] ||
     [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund)
  fi
done
build_dir=${KILN_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j "${KILN_JOBS:-2}"
# The file readers under libFuzzer (clang, its own build dir build-fuzz), each for a
# bounded time (KILN_FUZZ_SECONDS); a crash fails the run.
bash scripts/fuzz.sh
