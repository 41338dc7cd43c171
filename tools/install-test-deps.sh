#!/usr/bin/env bash
# Installs the programs the tests and benchmarks use, from the
# distribution's packages, when they are missing: rsync (compared against)
# and php-cli (the Nextcloud config tests include config.php with PHP).
set -euo pipefail
need=()
command -v rsync >/dev/null || need+=(rsync)
command -v php >/dev/null || need+=(php-cli)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq "${need[@]}" >/dev/null
