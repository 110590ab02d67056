#!/usr/bin/env bash
# Downloads the Debian 12 packages that scripts/gpu-box-build.sh unpacks on the GPU test
# machine (which has CUDA and PyTorch but no Abseil, protobuf, OpenSSL or mesh and image
# format libraries) into
# .gpu-carry/debs, a git-ignored folder the device tool carries along.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-carry/debs
cd .gpu-carry/debs
apt-get download libabsl-dev libabsl20220623 libprotobuf-dev libprotobuf32 libprotoc32 \
  protobuf-compiler libssl-dev libssl3 zlib1g-dev \
  libtinygltf-dev libtinygltf2d libtinyobjloader-dev libtinyobjloader2rc10 \
  libstb0 libpng-dev libpng16-16 libgif-dev libgif7
