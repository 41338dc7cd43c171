#!/usr/bin/env bash
# Upgrade Nextcloud on the primary and leave maintenance mode only once every
# secondary holds the new code and data. Run it as root on the primary (nfs1):
#
#   examples/upgrade.sh                      # runs `occ upgrade` (new code already in place)
#   examples/upgrade.sh -- sudo -u www-data php /var/www/nextcloud/updater/updater.phar --no-interaction
#
# The steps, which you can also type by hand:
#
#   occ maintenance:mode --on
#   ncsync barrier --timeout 2m || { occ maintenance:mode --off; exit 1; }
#   ...upgrade...
#   ncsync barrier --timeout 10m || exit 1
#   occ maintenance:mode --off
#
# `ncsync barrier` returns 0 only when every secondary in the primary's config
# has durably applied every change made before it started (it flushes the
# watcher first). The barrier right after maintenance mode goes on makes every
# secondary confirm it holds the config.php that says so before any code
# changes: a secondary that missed it (down, or far behind) would otherwise
# catch up later by applying new code next to the old config.php, with
# maintenance off, for its app servers to serve. If it fails, nothing has
# changed yet: the script turns maintenance mode off again and stops. If the
# barrier after the upgrade fails, the cluster stays in maintenance mode: app
# servers on a secondary that still has the old code would otherwise run the
# new database schema against old PHP, or the other way round.
#
# Settings (environment):
#   NC_ROOT          Nextcloud webroot             (/var/www/nextcloud)
#   NC_USER          user that runs occ            (www-data)
#   NCSYNC_CONFIG    ncsync config of this node    (/etc/ncsync/ncsync.yaml)
#   BARRIER_TIMEOUT  how long to wait after the upgrade (10m)
#   PRECHECK_TIMEOUT how long the barrier before maintenance mode may take (2m)
#   MAINT_TIMEOUT    how long the secondaries may take to confirm maintenance mode (2m)
set -euo pipefail

NC_ROOT=${NC_ROOT:-/var/www/nextcloud}
NC_USER=${NC_USER:-www-data}
NCSYNC=${NCSYNC:-ncsync}
NCSYNC_CONFIG=${NCSYNC_CONFIG:-/etc/ncsync/ncsync.yaml}
BARRIER_TIMEOUT=${BARRIER_TIMEOUT:-10m}
PRECHECK_TIMEOUT=${PRECHECK_TIMEOUT:-2m}
MAINT_TIMEOUT=${MAINT_TIMEOUT:-2m}

say() { printf '%s upgrade: %s\n' "$(date '+%F %T')" "$*" >&2; }
occ() { sudo -u "$NC_USER" php "$NC_ROOT/occ" "$@"; }
# What to run by hand once the secondaries have caught up.
finish="$NCSYNC barrier --config $NCSYNC_CONFIG --timeout $BARRIER_TIMEOUT && sudo -u $NC_USER php $NC_ROOT/occ maintenance:mode --off"

if [[ ${1:-} == "--" ]]; then
  shift
fi
if [[ $# -gt 0 ]]; then
  upgrade=("$@")
else
  upgrade=(occ upgrade)
fi

# 1. Before touching anything: every secondary must be connected and current,
#    or the barrier after the upgrade would keep the site down for nothing.
say "checking that every secondary is connected and up to date (ncsync barrier --timeout $PRECHECK_TIMEOUT)"
if ! "$NCSYNC" barrier --config "$NCSYNC_CONFIG" --timeout "$PRECHECK_TIMEOUT"; then
  say "FAILED: the secondaries are not in sync before the upgrade (see above and \`ncsync status\`)."
  say "Nothing was changed; fix replication first, then run this again."
  exit 1
fi

# 2. Maintenance mode on.
say "maintenance mode on"
occ maintenance:mode --on

# 3. Every secondary confirms maintenance mode before any code changes: it
#    holds the config.php with maintenance on. Nothing has changed yet if it
#    cannot, so maintenance mode goes off again.
say "waiting for every secondary to hold maintenance mode (ncsync barrier --timeout $MAINT_TIMEOUT)"
if ! "$NCSYNC" barrier --config "$NCSYNC_CONFIG" --timeout "$MAINT_TIMEOUT"; then
  say "FAILED: not every secondary confirmed maintenance mode (see above and \`ncsync status\`)."
  say "Nothing was upgraded. Turning maintenance mode off again; fix replication, then run this again."
  occ maintenance:mode --off
  exit 1
fi

# From here on, never turn maintenance mode off unless the last barrier succeeded.
# 4. The upgrade itself.
say "upgrading: ${upgrade[*]}"
if ! "${upgrade[@]}"; then
  say "FAILED: the upgrade command failed. Nextcloud stays in maintenance mode."
  say "Fix the upgrade, then: $finish"
  exit 1
fi

# 5. Wait until every secondary holds the upgraded tree.
say "waiting for every secondary to hold the upgrade (ncsync barrier --timeout $BARRIER_TIMEOUT)"
rc=0
"$NCSYNC" barrier --config "$NCSYNC_CONFIG" --timeout "$BARRIER_TIMEOUT" || rc=$?
if [[ $rc -ne 0 ]]; then
  if [[ $rc -eq 3 ]]; then
    say "FAILED: not every secondary caught up within $BARRIER_TIMEOUT (the laggards are listed above)."
  else
    say "FAILED: ncsync barrier exited with status $rc (see above)."
  fi
  say "Nextcloud stays in maintenance mode. Once the secondaries have caught up (\`ncsync status\`):"
  say "  $finish"
  exit 1
fi

# 6. Every node holds the new code: leave maintenance mode.
say "every secondary holds the upgrade; maintenance mode off"
occ maintenance:mode --off
say "done"
