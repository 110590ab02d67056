#!/usr/bin/env bash
# Configures and builds Kiln into ${KILN_BUILD_DIR:-build} with Ninja (-j2 by
# default: the reference machines have two cores). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${KILN_BUILD_DIR:-build}
# kiln-scheduler embeds the dashboard and the three.js it imports from
# scheduler/http/web/node_modules (pinned in its package-lock.json; the build fails with
# a message without it). npm ci only when node_modules is older than the lock file.
web=scheduler/http/web
if [ ! -f "$web/node_modules/.package-lock.json" ] ||
   [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  (cd "$web" && npm ci --no-audit --no-fund)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
ninja -C "$build_dir" -j "${KILN_JOBS:-2}"
