#!/usr/bin/env bash
# Installs the programs the tests and benchmarks use, from the
# distribution's packages, when they are missing: rsync (compared against)
# php-cli (the Nextcloud config tests include config.php with PHP); and
# mkfs.xfs and mkfs.btrfs (a file built from its previous version is
# cloned, FICLONE, on XFS and btrfs loop mounts);
# and promtool, which checks examples/prometheus/alerts.yml and the Grafana
# dashboard's queries, taken from Debian's prometheus package into the
# tools directory (the package itself, with its service, is not installed).
set -euo pipefail
tools="${NCSYNC_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ncsync-tools}"
need=()
command -v rsync >/dev/null || need+=(rsync)
command -v php >/dev/null || need+=(php-cli)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v mkfs.btrfs >/dev/null || need+=(btrfs-progs)
promtool=0
command -v promtool >/dev/null || [ -x "$tools/promtool" ] || promtool=1
[ ${#need[@]} -eq 0 ] && [ $promtool -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${need[*]}$([ $promtool -eq 1 ] && echo " promtool"): install them (apt-get install ${need[*]} prometheus) or run as root" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
[ ${#need[@]} -eq 0 ] || apt-get install -y -qq "${need[@]}" >/dev/null
if [ $promtool -eq 1 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
    mkdir -p "$tools"
    install -m 0755 "$tmp/root/usr/bin/promtool" "$tools/promtool"
  else
    echo "promtool: could not download Debian's prometheus package; the alert rules are checked without it" >&2
  fi
fi
