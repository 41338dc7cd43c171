#!/usr/bin/env bash
# Back up a Nextcloud secondary at one consistent point, while the primary
# keeps serving users. Run it on the secondary (here nfs2), e.g. from cron:
#
#   ncsync snapshot --peer nfs2 --ttl 4h -- /usr/local/sbin/nextcloud-backup.sh
#
# `ncsync snapshot` holds nfs2's copy still at one point of the primary's
# history (the NCSYNC_SNAPSHOT_SEQ it passes in), runs this script, and
# resumes replication however the script ends. The database dump is taken
# in the same window with --single-transaction, so files and database are
# from (almost) the same moment; Nextcloud tolerates files that are a few
# seconds newer than the database, not the other way round, so dump first.
#
# Adjust the settings below; everything else is plain rsync and mysqldump.
set -euo pipefail

: "${NCSYNC_SNAPSHOT_SEQ:?run me through: ncsync snapshot --peer NODE -- $0}"
DEST=${DEST:-/backup/nextcloud/$(date +%Y-%m-%dT%H%M%S)}
DB_NAME=${DB_NAME:-nextcloud}
DB_HOST=${DB_HOST:-db.example}

mkdir -p "$DEST"
echo "snapshot point: $NCSYNC_SNAPSHOT_SEQ (pause $NCSYNC_PAUSE_ID)" | tee "$DEST/SNAPSHOT"

# 1. The database, in one transaction (InnoDB: no table locks).
mysqldump --single-transaction --quick --host="$DB_HOST" "$DB_NAME" | zstd -q -o "$DEST/db.sql.zst"

# 2. The frozen trees. Every replicated folder is in NCSYNC_FOLDERS
#    (':'-separated); NCSYNC_FOLDER_<ID> names each one.
IFS=: read -r -a folders <<<"$NCSYNC_FOLDERS"
for dir in "${folders[@]}"; do
  rsync -a --delete "$dir/" "$DEST/$(basename "$dir")/"
done
echo "backup complete: $DEST"
