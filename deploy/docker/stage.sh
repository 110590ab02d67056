#!/usr/bin/env bash
# Copies what the images ship from a Kiln build directory into PREFIX:
#   PREFIX/bin       kiln-scheduler, kiln-worker, kiln-exec, kilnctl
#   PREFIX/models    the built-in model repository (kiln-worker's default: ../models)
#   PREFIX/packages  scheduler.txt and worker.txt: the Debian packages each needs at run
#                    time (deploy/docker/runtime-deps.sh)
# Usage: stage.sh BUILD_DIR PREFIX
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR PREFIX" >&2; exit 2; }
build=$1 prefix=$2
here=$(dirname "$0")
programs=(kiln-scheduler kiln-worker kiln-exec kilnctl)
install -d "$prefix/bin" "$prefix/models" "$prefix/packages"
for p in "${programs[@]}"; do
  [ -x "$build/bin/$p" ] || { echo "stage: $build/bin/$p was not built" >&2; exit 1; }
  install -m 0755 -s "$build/bin/$p" "$prefix/bin/$p"
done
[ -d "$build/models" ] || { echo "stage: $build/models (the built-in models) is missing" >&2; exit 1; }
cp -a "$build/models/." "$prefix/models/"
bash "$here/runtime-deps.sh" packages "$prefix/bin/kiln-scheduler" "$prefix/bin/kilnctl" \
  >"$prefix/packages/scheduler.txt"
bash "$here/runtime-deps.sh" packages "$prefix/bin/kiln-worker" "$prefix/bin/kiln-exec" \
  "$prefix/bin/kilnctl" >"$prefix/packages/worker.txt"
