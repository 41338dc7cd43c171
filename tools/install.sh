#!/usr/bin/env bash
# Installs the pinned code generators into .bin/ with `go install`, so any
# machine with Go can regenerate the protocol code exactly as checked in.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

# Outside the checkout so that fresh clones on the same machine reuse them.
export GOBIN="${NCSYNC_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ncsync-tools}"
mkdir -p "$GOBIN"

install() { # module@version binary
  if [ -x "$GOBIN/$2" ] && [ -f "$GOBIN/.$2.version" ] && [ "$(cat "$GOBIN/.$2.version")" = "$1" ]; then
    return
  fi
  echo "installing $1" >&2
  go install "$1"
  echo "$1" >"$GOBIN/.$2.version"
}

install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION" buf
install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION" protoc-gen-go
install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION" protoc-gen-go-grpc
