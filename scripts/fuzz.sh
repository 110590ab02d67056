#!/usr/bin/env bash
# Builds Kiln's libFuzzer targets (tests/fuzz: the OBJ, PLY, STL, GLB, .npy, PNG and STEP readers;
# job spec validation, the scheduler's store records and blob uploads) with clang +
# AddressSanitizer + UndefinedBehaviorSanitizer in their own build directory, then runs
# each for a bounded time from its seed corpus. Exits non-zero when a target crashes, leaks, times
# out on one input or runs out of memory; the input that did it is kept under
# <build dir>/findings/<target>/ (replay: <build dir>/bin/fuzz_<target> <file>).
#
#   KILN_FUZZ_SECONDS   seconds per target (default 20)
#   KILN_FUZZ_TARGETS   space-separated names (default: every fuzz_* built, less those
#                       tests/fuzz/not_in_ci.txt lists)
#   KILN_FUZZ_BUILD_DIR build directory (default build-fuzz)
#   KILN_JOBS           parallel build jobs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${KILN_FUZZ_SECONDS:-20}
build_dir=${KILN_FUZZ_BUILD_DIR:-build-fuzz}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

cmake -S . -B "$build_dir" -G Ninja -DKILN_BUILD_FUZZERS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 "${launcher[@]}" >/dev/null
ninja -C "$build_dir" -j "${KILN_JOBS:-2}"

if [ -n "${KILN_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$KILN_FUZZ_TARGETS"
else
  # Every target built, less those tests/fuzz/not_in_ci.txt lists (crashes inside a
  # third-party library that Kiln contains but cannot fix).
  targets=()
  for bin in "$build_dir"/bin/fuzz_*; do
    name=${bin##*/fuzz_}
    if grep -q "^$name " tests/fuzz/not_in_ci.txt; then
      echo "fuzz.sh: $name skipped: $(grep "^$name " tests/fuzz/not_in_ci.txt | cut -d' ' -f2-)"
      continue
    fi
    targets+=("$name")
  done
fi

failed=()
for target in "${targets[@]}"; do
  bin="$build_dir/bin/fuzz_$target"
  seeds="tests/fuzz/corpus/$target"
  # New inputs go to a corpus inside the build dir; the committed seeds stay as they are.
  work="$build_dir/corpus/$target"
  findings="$build_dir/findings/$target"
  mkdir -p "$work" "$findings"
  echo "fuzz.sh: $target for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$findings/" "$work" "$seeds" >"$build_dir/fuzz_$target.log" 2>&1; then
    tail -n 40 "$build_dir/fuzz_$target.log"
    echo "fuzz.sh: $target FAILED; inputs in $findings/"
    failed+=("$target")
  else
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build_dir/fuzz_$target.log" |
      tr '\n' ' '
    echo
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]}"
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets ran ${seconds}s each without a crash"
