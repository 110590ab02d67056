#!/usr/bin/env bash
# Builds Kiln's compute side (KILN_COMPONENTS=exec: kiln-exec, its tasks, GPU tests and
# benchmarks) on the GPU test machine: Ubuntu 24.04 with CUDA 13 and PyTorch (whose
# LibTorch we build against), but without Abseil, protobuf or OpenSSL headers. Those come
# from Debian 12 packages carried along in .gpu-carry/debs (fetch them on the build
# machine with scripts/gpu-box-fetch-debs.sh) and unpacked here into a private prefix.
#   scripts/gpu-box-build.sh BUILD_DIR [ninja targets...]
# protobuf is linked statically: PyTorch's libtorch_cpu exports its own bundled protobuf,
# and with Debian's libprotobuf.so loaded too, its calls bind to the wrong version (a crash
# in the first TorchScript call).
# KILN_CUDA_ARCHS (e.g. 90-real) builds the kernels for fewer architectures, faster.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:?usage: gpu-box-build.sh BUILD_DIR [targets...]}
shift

prefix=${KILN_GPU_PREFIX:-/tmp/kiln-debs}
if [ ! -d "$prefix/usr/include/absl" ]; then
  mkdir -p "$prefix"
  for deb in .gpu-carry/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
fi
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKILN_COMPONENTS=exec -DKILN_WITH_CUDA=ON -DKILN_WITH_TORCH=ON \
  -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
  -DCMAKE_PREFIX_PATH="$prefix/usr;$torch_prefix" \
  -DProtobuf_PROTOC_EXECUTABLE="$prefix/usr/bin/protoc" \
  -DProtobuf_USE_STATIC_LIBS=ON \
  -DProtobuf_INCLUDE_DIR="$prefix/usr/include" \
  -DOPENSSL_ROOT_DIR="$prefix/usr" \
  -DCMAKE_BUILD_RPATH="$prefix/usr/lib/x86_64-linux-gnu" \
  ${KILN_CUDA_ARCHS:+"-DCMAKE_CUDA_ARCHITECTURES=$KILN_CUDA_ARCHS"}
ninja -C "$build_dir" "$@"
