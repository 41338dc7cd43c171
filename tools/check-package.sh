#!/usr/bin/env bash
# Checks the .deb that tools/package.sh built: its metadata, that it holds
# the binary, the unit, the man pages, the example configs and the state
# directory, that the binary runs and reports the package's version, and
# that systemd accepts the unit (systemd-analyze verify, where installed).
set -euo pipefail
cd "$(dirname "$0")/.."

deb=$(ls -1t dist/ncsync_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "no dist/ncsync_*.deb: run tools/package.sh deb" >&2; exit 1; }
fail() { echo "check-package: $deb: $*" >&2; exit 1; }

info=$(dpkg-deb --info "$deb")
grep -q '^ Package: ncsync$' <<<"$info" || fail "no Package: ncsync in its control file"
version=$(dpkg-deb --field "$deb" Version)
[ -n "$version" ] || fail "no Version"

listing=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/ncsync ./usr/lib/systemd/system/ncsync.service \
  ./usr/share/man/man1/ncsync.1.gz ./usr/share/man/man1/ncsync-run.1.gz \
  ./etc/ncsync/ncsync-primary.yaml.example ./etc/ncsync/ncsync-secondary.yaml.example \
  ./var/lib/ncsync/; do
  grep -qE " ${path//./\\.}( |$)" <<<"$listing" || fail "does not contain $path"
done
grep -E ' \./usr/bin/ncsync$' <<<"$listing" | grep -q '^-rwxr-xr-x' || fail "/usr/bin/ncsync is not mode 0755"
grep -E ' \./var/lib/ncsync/$' <<<"$listing" | grep -q '^drwx------' || fail "/var/lib/ncsync is not mode 0700"

root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
dpkg-deb --extract "$deb" "$root"
got=$("$root/usr/bin/ncsync" version | head -1)
[ "$got" = "ncsync $version" ] || fail "the binary says '$got', the package '$version'"
commit=$("$root/usr/bin/ncsync" version | sed -n 2p)
[[ "$commit" =~ ^commit\ [0-9a-f]{40} ]] || fail "the binary says '$commit', not the commit it was built from"
zcat "$root/usr/share/man/man1/ncsync-barrier.1.gz" | grep -q '^\.TH' || fail "ncsync-barrier.1 is not a man page"

if command -v systemd-analyze >/dev/null 2>&1; then
  # verify checks that ExecStart exists: point it at the extracted binary.
  unit="$root/ncsync.service"
  sed "s#/usr/bin/ncsync#$root/usr/bin/ncsync#" "$root/usr/lib/systemd/system/ncsync.service" >"$unit"
  out=$(systemd-analyze verify --man=no "$unit" 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify warns: $out"
else
  echo "check-package: systemd-analyze not installed: unit not verified"
fi
echo "check-package: $deb ($version) is complete"
