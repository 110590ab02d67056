#!/usr/bin/env bash
# Regenerates docs/api.md from the comments of protos/kiln/v1/*.proto (kiln-api-doc,
# client/tools/api_doc.cc). Usage: scripts/gen-api-doc.sh [BUILD_DIR]  (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-${KILN_BUILD_DIR:-build}}
ninja -C "$build_dir" kiln-api-doc kiln_api_descriptors
"$build_dir/bin/kiln-api-doc" --descriptors "$build_dir/client/kiln_api.desc" --out docs/api.md
echo "wrote docs/api.md"
