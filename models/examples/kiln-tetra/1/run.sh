#!/bin/bash
# kiln-tetra@1: an exec-runtime model for tests and docs (see manifest.json).
#   run.sh INPUT_DIR OUTPUT_DIR PARAMETERS_JSON
# Reports progress with "kiln-progress: <fraction> <message>" lines and writes
# tetrahedron.obj (scaled by parameters.scale) and inputs.txt into OUTPUT_DIR.
set -euo pipefail
input_dir=$1
output_dir=$2
parameters=$3

json=$(cat "$parameters")
# Parameters arrive as compact JSON ({"mode":"fail","scale":2}); no jq or python needed.
mode=$(printf '%s' "$json" | sed -n 's/.*"mode":"\([a-z]*\)".*/\1/p')
scale=$(printf '%s' "$json" | sed -n 's/.*"scale":\([-0-9.eE+]*\).*/\1/p')
mode=${mode:-ok}
scale=${scale:-1}
echo "kiln-progress: 0.1 parameters read (mode=$mode, scale=$scale)"

case "$mode" in
  ok) ;;
  env) env | sort > "$output_dir/env.txt" ;;
  fail)
    echo "kiln-tetra: working on it"
    echo "kiln-tetra: failing as asked (mode=fail)" >&2
    exit 3
    ;;
  nokernel)
    # What PyTorch says on a GPU its build has no kernels for.
    echo "RuntimeError: CUDA error: no kernel image is available for execution on the device" >&2
    exit 1
    ;;
  hang | stubborn)
    # stubborn ignores SIGTERM, and so does its child: only SIGKILL ends them.
    if [[ $mode == stubborn ]]; then trap '' TERM; fi
    # A child of our own, to show that the whole process group goes on timeout.
    sleep 100000 &
    echo "$!" > "$output_dir/child.pid"
    echo "kiln-tetra: hanging with child $! (mode=$mode)" >&2
    wait "$!"
    exit 0
    ;;
  orphan)
    # Leaves a background child behind and succeeds; it must not outlive the task.
    sleep 100000 > /dev/null 2>&1 &
    echo "$!" > "$output_dir/child.pid"
    ;;
  *)
    echo "kiln-tetra: unknown mode \"$mode\" (ok, env, fail, nokernel, hang, stubborn, orphan)" >&2
    exit 2
    ;;
esac

: > "$output_dir/inputs.txt"
for f in "$input_dir"/*; do
  [[ -e $f ]] || continue
  printf '%s %s\n' "$(basename "$f")" "$(wc -c < "$f")" >> "$output_dir/inputs.txt"
done
echo "kiln-progress: 0.5 writing the tetrahedron"

awk -v s="$scale" 'BEGIN {
  print "# kiln-tetra@1: a regular tetrahedron, scale " s
  printf "v %g %g %g\n", s, s, s
  printf "v %g %g %g\n", s, -s, -s
  printf "v %g %g %g\n", -s, s, -s
  printf "v %g %g %g\n", -s, -s, s
  print "f 1 2 3"
  print "f 1 4 2"
  print "f 1 3 4"
  print "f 2 4 3"
}' > "$output_dir/tetrahedron.obj"
echo "kiln-progress: 1 done"
