#!/usr/bin/env bash
# Builds Kiln with a sanitizer and runs its CTest suite there:
#   scripts/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan/
#   scripts/sanitize.sh tsan   ThreadSanitizer, in build-tsan/
# (-DKILN_SANITIZE=address|thread, see the top CMakeLists.txt). CUDA and LibTorch are off
# in these builds: neither can be instrumented, and the GPU tests skip without a GPU anyway.
#
# Every sanitizer report of every process (tests and the scheduler, worker, executor and
# kilnctl processes the end-to-end tests start) is written to <build dir>/sanitizer-logs/;
# the script fails when CTest fails or when any report was written there. UBSan reports are
# the exception (gcc 12's combined runtime writes them to stderr only): halt_on_error makes
# the process fail, and the script also fails on any "runtime error:" in CTest's log.
#
#   KILN_SANITIZE_TARGETS  ninja targets to build (default: everything)
#   KILN_SANITIZE_TESTS    ctest -R regex (default: every test)
#   KILN_SANITIZE_EXCLUDE  ctest -E regex (default: none)
#   KILN_JOBS              parallel build and test jobs (default 2)
#   KILN_TSAN_GRPC         tsan: the build dir of scripts/build-tsan-grpc.sh (default: none,
#                          Debian's uninstrumented gRPC)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  asan) sanitize=address ;;
  tsan) sanitize=thread ;;
  *) echo "usage: $0 asan|tsan" >&2; exit 2 ;;
esac
build_dir=build-$1
jobs=${KILN_JOBS:-2}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_SANITIZE="$sanitize" \
  -DKILN_WITH_CUDA=OFF -DKILN_WITH_TORCH=OFF "${launcher[@]}" >/dev/null
read -r -a targets <<<"${KILN_SANITIZE_TARGETS:-}"
if [ "$1" = tsan ] && [ "${#targets[@]}" -gt 0 ]; then targets+=(kiln_tsan_absl_sync); fi
ninja -C "$build_dir" -j "$jobs" "${targets[@]}"

logs="$PWD/$build_dir/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
supp="$PWD/scripts/sanitize"
# log_path: one file per process that reports, so reports from child processes are kept
# even where a test discards their stderr.
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
if [ "$1" = tsan ]; then
  # TSan takes one suppressions file: Kiln's, plus the uninstrumented gRPC's unless a
  # TSan-built gRPC is used (KILN_TSAN_GRPC).
  tsan_supp="$PWD/$build_dir/tsan.supp"
  cat "$supp/tsan.supp" >"$tsan_supp"
  if [ -z "${KILN_TSAN_GRPC:-}" ]; then cat "$supp/tsan-debian-grpc.supp" >>"$tsan_supp"; fi
  export TSAN_OPTIONS="log_path=$logs/tsan:suppressions=$tsan_supp:second_deadlock_stack=1:history_size=7"
  # Debian's Abseil is not instrumented: without this, TSan sees no absl::Mutex at all
  # (scripts/sanitize/tsan_absl_sync.cc).
  export LD_PRELOAD="$PWD/$build_dir/libkiln_tsan_absl_sync.so"
  # A TSan-built gRPC (scripts/build-tsan-grpc.sh), same version and SONAMEs as Debian's:
  # first on the library path, so TSan also sees gRPC's own hand-offs between threads.
  if [ -n "${KILN_TSAN_GRPC:-}" ]; then
    for lib in libgrpc.so.29 libgrpc++.so.1.51 libgpr.so.29 libupb.so.29; do
      [ -e "$KILN_TSAN_GRPC/$lib" ] || { echo "sanitize.sh: no $lib in $KILN_TSAN_GRPC" >&2; exit 2; }
    done
    export LD_LIBRARY_PATH="$KILN_TSAN_GRPC${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi

ctest_args=(--test-dir "$build_dir" --output-on-failure -j "$jobs")
if [ -n "${KILN_SANITIZE_TESTS:-}" ]; then ctest_args+=(-R "$KILN_SANITIZE_TESTS"); fi
if [ -n "${KILN_SANITIZE_EXCLUDE:-}" ]; then ctest_args+=(-E "$KILN_SANITIZE_EXCLUDE"); fi
status=0
ctest "${ctest_args[@]}" || status=$?

# UBSan inside the combined ASan runtime (gcc 12) ignores log_path and reports on stderr
# only: look for its reports in what CTest kept of every test's output as well.
ubsan_on_stderr=0
if [ "$1" = asan ]; then
  ubsan_on_stderr=$(grep -c "runtime error:" "$build_dir/Testing/Temporary/LastTest.log" 2>/dev/null || true)
fi
if [ "${ubsan_on_stderr:-0}" -gt 0 ]; then
  grep -B2 -A12 "runtime error:" "$build_dir/Testing/Temporary/LastTest.log" | head -n 120
  echo "sanitize.sh: $ubsan_on_stderr UBSan report(s) in $build_dir/Testing/Temporary/LastTest.log"
  status=1
fi
reports=("$logs"/*)
if [ -e "${reports[0]}" ]; then
  for report in "${reports[@]}"; do
    echo "=== $report"
    head -n 60 "$report"
  done
  echo "sanitize.sh: ${#reports[@]} sanitizer report(s) in $logs/"
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "sanitize.sh: $1 run FAILED"
  exit "$status"
fi
echo "sanitize.sh: $1 run clean"
