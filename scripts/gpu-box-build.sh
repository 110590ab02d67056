#!/usr/bin/env bash
# Builds Kiln's compute side (KILN_COMPONENTS=exec: kiln-exec, its tasks, GPU tests and
# benchmarks) on the GPU test machine: Ubuntu 24.04 with CUDA 13 and PyTorch (whose
# LibTorch we build against), but without Abseil, protobuf or OpenSSL headers. Those come
# from Debian 12 packages carried along in .gpu-carry/debs (fetch them on the build
# machine with scripts/gpu-box-fetch-debs.sh) and unpacked here into a private prefix.
#   scripts/gpu-box-build.sh BUILD_DIR [ninja targets...]
# The shared libstdc++ is put first among the executables' libraries: PyTorch's libtorch.so
# exports std::filesystem functions of its own (remove_all among them; they crash when our
# code calls them), and the box's g++ otherwise binds our calls to them at link time.
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
  -DProtobuf_INCLUDE_DIR="$prefix/usr/include" \
  -DOPENSSL_ROOT_DIR="$prefix/usr" \
  -DCMAKE_BUILD_RPATH="$prefix/usr/lib/x86_64-linux-gnu" \
  "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--push-state,--no-as-needed -l:libstdc++.so.6 -Wl,--pop-state" \
  ${KILN_CUDA_ARCHS:+"-DCMAKE_CUDA_ARCHITECTURES=$KILN_CUDA_ARCHS"}
ninja -C "$build_dir" "$@"
