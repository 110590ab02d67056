#!/usr/bin/env bash
# Builds the gRPC that Kiln links (Debian's source package, same version and SONAMEs) with
# ThreadSanitizer, so that `scripts/sanitize.sh tsan` sees gRPC's own hand-offs between
# threads (its completion queues and atomics) instead of reporting races through them.
#   scripts/build-tsan-grpc.sh DIR          # as root: adds a deb-src entry if missing
#   KILN_TSAN_GRPC=DIR/build scripts/sanitize.sh tsan
# libgrpc++_reflection is not rebuilt (gRPC builds it only with its code generators): Debian's
# is used, linked to these. About 750 compile steps, roughly two hours on 2 cores; ninja resumes where it stopped, and
# DIR is meant to be kept (a cached CI artifact, the development image), not rebuilt.
set -euo pipefail
dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if ! grep -rqs "^Types: deb-src" /etc/apt/sources.list.d/ &&
  ! grep -qs "^deb-src" /etc/apt/sources.list; then
  # The binary entries' twin (Debian 12's deb822 file), for `apt-get source`.
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
    >/etc/apt/sources.list.d/debian-src.sources
  apt-get update
fi
command -v dpkg-source >/dev/null || apt-get install -y dpkg-dev

version=$(dpkg-query -W -f='${source:Version}' libgrpc++1.51)
src=$(find "$dir" -maxdepth 1 -type d -name 'grpc-*' | head -n 1)
if [ -z "$src" ]; then
  (cd "$dir" && apt-get source "grpc=$version")
  src=$(find "$dir" -maxdepth 1 -type d -name 'grpc-*' | head -n 1)
fi

# The flags Kiln's TSan build uses (-U__SANITIZE_THREAD__ -D_GLIBCXX_TSAN=1, see
# CMakeLists.txt), so gRPC's headers and libstdc++ agree with Kiln's objects; every
# dependency from Debian (provider=package) as in Debian's own build.
flags="-fsanitize=thread -fno-omit-frame-pointer -U__SANITIZE_THREAD__ -D_GLIBCXX_TSAN=1"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBUILD_SHARED_LIBS=ON -DgRPC_BUILD_TESTS=OFF -DgRPC_BUILD_CODEGEN=OFF \
  -DgRPC_ABSL_PROVIDER=package -DgRPC_CARES_PROVIDER=package -DgRPC_PROTOBUF_PROVIDER=package \
  -DgRPC_RE2_PROVIDER=package -DgRPC_SSL_PROVIDER=package -DgRPC_ZLIB_PROVIDER=package \
  -DProtobuf_PROTOC_LIBRARY=/usr/lib/x86_64-linux-gnu/libprotoc.so \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags -std=c++17" "${launcher[@]}" >/dev/null
nice -n 10 ninja -C "$dir/build" -j "${KILN_JOBS:-2}" grpc grpc++ gpr
echo "built; use: KILN_TSAN_GRPC=$dir/build scripts/sanitize.sh tsan"
