#!/usr/bin/env bash
# Installs the Debian 12 packages Kiln builds against (see ../shared/DESIGN.md for
# why each). Does nothing when they are all present; runs apt-get as root or
# through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libabsl-dev prometheus-cpp-dev libssl-dev
  libjemalloc-dev  # kiln-scheduler's allocator (cmake/KilnDependencies.cmake)
  libgtest-dev libgmock-dev
  libyaml-cpp-dev  # kilnctl submit -f spec.yaml
  libtorch-dev  # field.decode and the built-in models (KILN_WITH_TORCH=AUTO finds it)
  prometheus
  # Mesh, image and CAD formats (worker/tasks/meshio, worker/image, worker/cad).
  libtinygltf-dev libtinyobjloader-dev libpng-dev libgif-dev libdxflib-dev
  libocct-data-exchange-dev libocct-modeling-algorithms-dev libocct-modeling-data-dev
  libocct-foundation-dev libtbb-dev
  clang libclang-rt-14-dev  # libFuzzer for tests/fuzz
  slurm-wlm munge  # tests/slurm: a real Slurm 22.05 for slurm/ and kiln-autoscale
  # Command-line tools tests run: certificates (tests/tls), helm's zip and unit checks
  # (tests/helm), JSON and free ports in shell tests (tests/slurm).
  openssl unzip systemd python3
  chromium  # the dashboard's browser tests (scheduler/http/web/tests, playwright-core)
)
# Node.js runs the glTF validator and the foreign gRPC client in tests; any install with npm
# will do (a NodeSource nodejs provides npm itself).
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
