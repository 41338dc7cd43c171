#!/usr/bin/env bash
# Builds the .deb and .rpm packages of ncsync into dist/ with nfpm (pinned):
# the binary (version stamped from git), the systemd unit, the man pages
# generated from the commands' help, example configs and /var/lib/ncsync.
#   tools/package.sh            # both formats
#   tools/package.sh deb        # one format
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM_VERSION=v2.48.0
export GOBIN="${NCSYNC_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ncsync-tools}"
mkdir -p "$GOBIN"
if [ ! -x "$GOBIN/nfpm" ] || [ "$(cat "$GOBIN/.nfpm.version" 2>/dev/null)" != "$NFPM_VERSION" ]; then
  echo "installing nfpm $NFPM_VERSION" >&2
  go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
  echo "$NFPM_VERSION" >"$GOBIN/.nfpm.version"
fi

# Version: the tag vX.Y.Z at HEAD, else 0.0.0~gitDATE.COMMIT (sorts below
# any release).
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
  VERSION=${tag#v}
else
  VERSION="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S).$(git rev-parse --short=12 HEAD)"
fi
export VERSION
case "$(go env GOARCH)" in
  amd64) export ARCH=amd64 ;;
  arm64) export ARCH=arm64 ;;
  *) echo "unsupported GOARCH $(go env GOARCH)" >&2; exit 1 ;;
esac

PKGROOT="dist/root" # named in packaging/nfpm.yaml
rm -rf "$PKGROOT"; mkdir -p "$PKGROOT/man" dist
COMMIT=$(git rev-parse HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  COMMIT="$COMMIT (modified)"
fi
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION -X 'main.commit=$COMMIT'" -o "$PKGROOT/ncsync" ./cmd/ncsync
"$PKGROOT/ncsync" manpages --dir "$PKGROOT/man"
gzip -9n "$PKGROOT"/man/*.1

for fmt in "${@:-deb rpm}"; do
  for f in $fmt; do
    "$GOBIN/nfpm" package --config packaging/nfpm.yaml --packager "$f" --target dist/
  done
done
ls -1 dist/*.deb dist/*.rpm 2>/dev/null || true
