#!/usr/bin/env bash
# Static test of deploy/docker, deploy/compose, deploy/systemd and the Helm chart against
# the tree and the built programs (no Docker, systemd or cluster needed):
#  - deploy_files_check.js: COPY sources, stages and programs of the Dockerfile exist;
#    compose builds real targets; every flag in CMD, compose, systemd units and the
#    rendered chart is a flag of the built kiln-scheduler/kiln-worker;
#  - systemd-analyze verify accepts both units (pointed at the built programs);
#  - deploy/docker/stage.sh stages the build as the images do, and the runtime package
#    lists it writes name installed Debian packages (gRPC, RocksDB for the scheduler).
# Usage: deploy_files_test.sh SOURCE_DIR BIN_DIR WORK_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
bin=$(cd "$2" && pwd)
work=$3
failures=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }
mkdir -p "$work"
# shellcheck source=tests/helm/helm_tools.sh
source "$src/tests/helm/helm_tools.sh"
for p in kiln-scheduler kiln-worker kiln-exec kilnctl; do
  [ -x "$bin/$p" ] || { echo "FAILED: $bin/$p is not built" >&2; exit 1; }
done

echo "== deploy files against the tree and the programs' flags"
rendered=()
for values in "$src"/helm/kiln/ci/*-values.yaml; do
  out=$work/$(basename "$values" .yaml).rendered.yaml
  "$helm" template kiln "$src/helm/kiln" -f "$values" >"$out" || fail "helm template $values"
  rendered+=("$out")
done
node "$src/tests/helm/deploy_files_check.js" "$src" "$bin" "${rendered[@]}" || fail "deploy_files_check.js"

echo "== systemd units"
command -v systemd-analyze >/dev/null || { echo "FAILED: systemd-analyze is not installed (Debian package systemd)" >&2; exit 1; }
mkdir -p "$work/units"
for unit in kiln-scheduler kiln-worker; do
  sed "s#/opt/kiln/bin/#$bin/#g" "$src/deploy/systemd/$unit.service" >"$work/units/$unit.service"
  if ! SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$work/units/$unit.service" \
      >"$work/units/$unit.verify" 2>&1 || [ -s "$work/units/$unit.verify" ]; then
    cat "$work/units/$unit.verify" >&2
    fail "systemd-analyze verify $unit.service"
  fi
done

echo "== staging as the images do"
rm -rf "$work/stage"
# The images carry the built-in models, which only a LibTorch build makes; the sanitizer
# builds (scripts/sanitize.sh) turn LibTorch off, and stage.sh rightly refuses them.
if grep -q '^KILN_WITH_TORCH:STRING=OFF$' "$(dirname "$bin")/CMakeCache.txt" 2>/dev/null; then
  echo "skipped: this build has LibTorch off, so it has no built-in models to stage"
elif bash "$src/deploy/docker/stage.sh" "$(dirname "$bin")" "$work/stage" 2>"$work/stage.err"; then
  for p in kiln-scheduler kiln-worker kiln-exec kilnctl; do
    [ -x "$work/stage/bin/$p" ] || fail "stage.sh did not install $p"
  done
  ls "$work/stage/models"/*/*/manifest.json >/dev/null 2>&1 || fail "stage.sh staged no built-in model"
  for list in scheduler worker; do
    [ -s "$work/stage/packages/$list.txt" ] || { fail "packages/$list.txt is empty"; continue; }
    while read -r package; do
      dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        fail "packages/$list.txt names $package, which is not an installed package"
    done <"$work/stage/packages/$list.txt"
  done
  for package in librocksdb7.8 libgrpc++1.51; do
    grep -qx "$package" "$work/stage/packages/scheduler.txt" || fail "scheduler.txt lacks $package"
  done
else
  cat "$work/stage.err" >&2
  fail "deploy/docker/stage.sh"
fi

if [ "$failures" -ne 0 ]; then
  echo "deploy files test: $failures failure(s)" >&2
  exit 1
fi
echo "deploy files test: all checks passed"
