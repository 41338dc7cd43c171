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
# Each run makes a new dated backup under BACKUP_ROOT, and BACKUP_ROOT/latest
# points at the last complete one, which keeps the point it was made at in
# its SNAPSHOT_SEQ file. From the second run on, only what changed is
# copied: `ncsync changes` lists, from ncsync's journal, the paths changed
# and deleted since that point, without walking either tree. The new backup
# starts as a hard-linked copy of the last one (no data copied), the
# deleted paths are removed from it, and rsync copies the changed ones.
# When the journal cannot answer (first run, or this node rejoined a new
# primary's history, or the last point is ahead of its journal), the folder
# is copied in full, hard-linking the files that did not change. After a
# primary's index is made anew, remove the last backup's SNAPSHOT_SEQ.
#
# rsync runs with --modify-window=-1: it then compares times to the
# nanosecond, as Nextcloud does, and sets a directory's or symlink's mtime
# even when it differs from the copy's within the same second.
#
# Adjust the settings below; everything else is plain rsync and mysqldump.
set -euo pipefail

: "${NCSYNC_SNAPSHOT_SEQ:?run me through: ncsync snapshot --peer NODE -- $0}"
BACKUP_ROOT=${BACKUP_ROOT:-/backup/nextcloud}
NCSYNC=${NCSYNC:-ncsync}
NCSYNC_CONFIG=${NCSYNC_CONFIG:-/etc/ncsync/ncsync.yaml}
DB_NAME=${DB_NAME-nextcloud} # empty: no database dump
DB_HOST=${DB_HOST:-db.example}

DEST=${DEST:-$BACKUP_ROOT/$(date +%Y-%m-%dT%H%M%S)}
PREV=
if [[ -f $BACKUP_ROOT/latest/SNAPSHOT_SEQ ]]; then
  PREV=$(readlink -f "$BACKUP_ROOT/latest")
fi
mkdir -p "$DEST"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "snapshot point: $NCSYNC_SNAPSHOT_SEQ (pause $NCSYNC_PAUSE_ID)"

# 1. The database, in one transaction (InnoDB: no table locks).
if [[ -n $DB_NAME ]]; then
  mysqldump --single-transaction --quick --host="$DB_HOST" "$DB_NAME" | zstd -q -o "$DEST/db.sql.zst"
fi

# 2. The frozen trees: every folder of the snapshot point ("data=1042
#    webroot=377"); NCSYNC_FOLDER_<ID> is its path.
for pair in $NCSYNC_SNAPSHOT_SEQ; do
  id=${pair%%=*}
  var=NCSYNC_FOLDER_$(tr 'a-z-' 'A-Z_' <<<"$id")
  src=${!var:?no $var for folder $id}
  dst=$DEST/$id
  if [[ -n $PREV && -d $PREV/$id ]] &&
    "$NCSYNC" changes --config "$NCSYNC_CONFIG" --folder "$id" \
      --since "$(cat "$PREV/SNAPSHOT_SEQ")" --until "$NCSYNC_SNAPSHOT_SEQ" \
      -0 --deleted "$work/$id.deleted" >"$work/$id.changed"; then
    # Incremental: the last backup, hard-linked; its deleted paths removed.
    cp -al "$PREV/$id" "$dst"
    (cd "$dst" && xargs -0 -r rm -rf -- <"$work/$id.deleted")
    # A changed file is unlinked before rsync writes it, so that the last
    # backup's copy (the same inode) keeps its own mode, owner and times.
    while IFS= read -r -d '' p; do
      if [[ -e $dst/$p || -L $dst/$p ]] && ! [[ -d $dst/$p && ! -L $dst/$p ]]; then
        rm -f -- "$dst/$p"
      fi
    done <"$work/$id.changed"
    rsync -a --modify-window=-1 --from0 --files-from="$work/$id.changed" "$src/" "$dst/"
    echo "$id: incremental from $PREV"
  else
    # Full: first backup, or the journal does not reach back (said above).
    link=()
    if [[ -n $PREV && -d $PREV/$id ]]; then link=(--link-dest="$PREV/$id"); fi
    rsync -a --modify-window=-1 --delete --exclude='.ncsync-*' "${link[@]}" "$src/" "$dst/"
    echo "$id: full copy"
  fi
done

# 3. The point this backup was made at, for the next run; then it becomes
#    the latest (atomically).
echo "$NCSYNC_SNAPSHOT_SEQ" >"$DEST/SNAPSHOT_SEQ"
ln -sfn "$DEST" "$BACKUP_ROOT/.latest.new"
mv -T "$BACKUP_ROOT/.latest.new" "$BACKUP_ROOT/latest"
echo "backup complete: $DEST"
