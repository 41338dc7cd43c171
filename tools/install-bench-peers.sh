#!/usr/bin/env bash
# Installs the peers `ncsync bench` compares against — rsync, lsyncd and
# Syncthing — plus iproute2 (the receiving side's network namespace), from
# the distribution's packages, when they are missing. Not part of CI: the
# CI run of `ncsync bench --quick` measures ncsync alone.
set -euo pipefail
need=()
command -v rsync >/dev/null || need+=(rsync)
command -v lsyncd >/dev/null || need+=(lsyncd)
command -v syncthing >/dev/null || need+=(syncthing)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -eq 0 ]; then
  echo "bench peers present: $(rsync --version | head -1); lsyncd $(lsyncd --version 2>&1 | awk '/Version/ {print $2}'); $(syncthing --version | cut -d' ' -f1-2)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${need[*]}: run as root, or apt-get install ${need[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "missing ${need[*]}: no apt-get here; install them with the distribution's package manager" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
