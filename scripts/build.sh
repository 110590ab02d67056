#!/usr/bin/env bash
# Configures and builds Kiln into ${KILN_BUILD_DIR:-build} with Ninja (-j2 by
# default: the reference machines have two cores). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${KILN_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
ninja -C "$build_dir" -j "${KILN_JOBS:-2}"
