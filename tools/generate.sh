#!/usr/bin/env bash
# Regenerates the Go code of proto/ with the pinned generators.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install.sh
export PATH="${NCSYNC_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ncsync-tools}:$PATH"
buf lint
buf generate
if git rev-parse -q --verify main >/dev/null; then
  buf breaking --against ".git#branch=main"
fi
