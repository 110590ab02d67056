#!/usr/bin/env bash
# What Kiln's binaries need at run time, found from the binaries themselves (ldd), so the
# images stay right when a dependency is added. Runs in the image's build stage.
#   runtime-deps.sh packages BIN...     the Debian packages that own the shared libraries
#   runtime-deps.sh bundle DIR BIN...   copies the shared libraries into DIR (for a runtime
#                                       image of another distribution), except the C
#                                       runtime and the CUDA libraries that image provides
set -euo pipefail
usage() { echo "usage: $0 packages BIN... | bundle DIR BIN..." >&2; exit 2; }
[ $# -ge 2 ] || usage
mode=$1; shift
if [ "$mode" = bundle ]; then dir=$1; shift; [ $# -ge 1 ] || usage; fi

libs() {  # Every resolved library path of the binaries, once.
  local bin out
  for bin in "$@"; do
    [ -x "$bin" ] || { echo "runtime-deps: $bin is not an executable" >&2; exit 1; }
    out=$(ldd "$bin") || { echo "runtime-deps: ldd $bin failed" >&2; exit 1; }
    if grep -q 'not found' <<<"$out"; then
      echo "runtime-deps: $bin: unresolved libraries:" >&2
      grep 'not found' <<<"$out" >&2
      exit 1
    fi
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' <<<"$out"
  done | sort -u
}

case $mode in
  packages)
    found=$(libs "$@")
    [ -n "$found" ] || exit 0
    # Each library under every name dpkg may have recorded it by (merged /usr: ldd may say
    # /lib/... where dpkg recorded /usr/lib/... or the reverse), as "library<TAB>name".
    names=$(while read -r lib; do
      real=$(readlink -f "$lib")
      for name in "$lib" "$real" "/usr${lib}" "${lib#/usr}" "/usr${real}" "${real#/usr}"; do
        printf '%s\t%s\n' "$lib" "$name"
      done
    done <<<"$found")
    # One dpkg-query for all of them: each call reads dpkg's whole database (a call per
    # name took minutes for the worker's few hundred libraries). It prints
    # "package[:arch][, package...]: path" for the names it finds and fails for the rest.
    owners=$(cut -f2 <<<"$names" | sort -u | xargs -d '\n' dpkg-query -S 2>/dev/null || true)
    # The first name of each library that a package owns; a library under none of its
    # names is not from a package (e.g. the CUDA toolkit in /usr/local/cuda): the caller
    # decides.
    awk -F'\t' '
      FNR == NR {
        if ($0 ~ /^diversion /) next
        split($0, parts, ": /")
        if (length(parts) < 2) next
        pkg = parts[1]; sub(/,.*/, "", pkg); sub(/:.*/, "", pkg)
        owner["/" substr($0, length(parts[1]) + 4)] = pkg
        next
      }
      !($1 in done) && ($2 in owner) { print owner[$2]; done[$1] = 1 }
      { libs[$1] = 1 }
      END {
        for (lib in libs) if (!(lib in done)) print "runtime-deps: " lib " belongs to no Debian package" > "/dev/stderr"
      }' <(printf '%s\n' "$owners") <(printf '%s\n' "$names") | sort -u
    ;;
  bundle)
    mkdir -p "$dir"
    libs "$@" | while read -r lib; do
      case $(basename "$lib") in
        # The target's C runtime (glibc, libstdc++ and libgcc of the same or a newer
        # release) and CUDA (the runtime image and the driver) stay the target's own.
        ld-linux*|libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libresolv.so*|\
        libstdc++.so*|libgcc_s.so*|\
        libcuda.so*|libcudart.so*|libcublas.so*|libcublasLt.so*|libnvidia-*|libnvrtc*)
          continue ;;
      esac
      cp -L "$lib" "$dir/$(basename "$lib")"
    done
    ;;
  *) usage ;;
esac
