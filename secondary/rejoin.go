package secondary

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/transport"
)

// Rejoin: when the primary's lineage has terms this node has not followed
// (a promotion happened), this node's history and the new primary's meet at
// the first new term's Start, per folder. Whatever this node holds after
// that point diverged: an old primary's own changes after it was replaced
// (including what it wrote while ncsync was not running, found by a scan
// first), or entries a secondary got from the old primary that the new one
// never had. Such a folder is rejoined:
//
//  1. every diverged file and symlink is preserved in the conflict store
//     (package preserve, cause "rejoin"), with its path, the term and
//     sequence that wrote it, its hash and the time, before anything is
//     removed;
//  2. the diverged paths are removed from the tree (diverged directories
//     only if they are then empty);
//  3. in one index transaction (index.DB.Rejoin) the diverged entries are
//     purged, the folder goes back to the divergence point, its applied
//     position to 0, and the new epoch and lineage are adopted;
//  4. the session reconnects: the new primary sends its whole journal of
//     the folder; entries this node already holds exactly (the shared
//     history) cost a comparison only (see plan in batch.go), the others are
//     applied. The new primary's version is then in the tree everywhere.
//
// A crash before step 3 leaves the old lineage: the rejoin is worked out
// again (already removed paths are then deletions, nothing to preserve).

// errNoStore: a rejoin that would replace local versions with nowhere to
// keep them. Never silently overwrite.
var errNoStore = errors.New("no conflict store (Options.ConflictDir): refusing to replace diverged local versions")

// adopt reconciles this node with a compatible primary (w) whose lineage
// adds next (nil: same history). It rewinds diverged folders (see the
// Rejoin comment) and records the primary's epoch and lineage. It reports
// whether the positions changed, so that the session must start again.
func (s *Secondary) adopt(ctx context.Context, meta index.Meta, w transport.Welcome, next *index.EpochMark) (bool, error) {
	if next == nil {
		if w.Epoch > meta.Epoch { // a node that had seen no epoch yet
			meta.Epoch, meta.Lineage = w.Epoch, w.Lineage
			return false, s.db.SetMeta(meta)
		}
		return false, nil
	}
	oldPrimary := meta.Leads(s.opts.Node)
	if oldPrimary {
		// Changes made while this node was down are journaled as its
		// own term first, so that they count as diverged.
		if err := s.scanOwnChanges(ctx, meta); err != nil {
			return false, err
		}
	}
	rewinds := make(map[string]index.Rewind)
	for _, id := range s.order {
		if _, ok := w.Folders[id]; !ok {
			continue // the primary does not replicate it: nothing to align with
		}
		head, err := s.db.Head(id)
		if err != nil {
			return false, err
		}
		start := next.Start[id]
		switch {
		case head > start:
			n, err := s.divergeFolder(ctx, id, start, next)
			if err != nil {
				return false, err
			}
			s.log.Warn("rejoin: this node's changes after the promotion were preserved and will be replaced by the new primary's versions",
				"folder", id, "primary", w.Node, "epoch", w.Epoch, "since_seq", start, "local_head", head, "preserved", n)
			rewinds[id] = index.Rewind{To: start, Position: 0}
		case oldPrimary:
			// All it journaled is shared history: follow on from there.
			rewinds[id] = index.Rewind{To: head, Position: head}
		}
	}
	for id, rw := range rewinds {
		// Batches staged during a pause came from the old history, past
		// the point the folder goes back to: drop them (they were never
		// applied, and the new primary sends what it has).
		if st := s.stages[id]; st != nil && st.Last() > rw.Position {
			if err := st.Clear(); err != nil {
				return false, err
			}
		}
	}
	meta.Epoch, meta.Lineage, meta.Promoted = w.Epoch, w.Lineage, false
	if err := s.db.Rejoin(meta, rewinds); err != nil {
		return false, err
	}
	s.log.Info("joined the history of a new primary", "primary", w.Node, "epoch", w.Epoch, "lineage", describeLineage(w.Lineage))
	return len(rewinds) > 0, nil
}

// divergeFolder preserves and removes every path of folder id that this
// node changed after start (its entries with a higher sequence), so that
// the new primary's versions can take their place. It returns how many
// versions were preserved.
func (s *Secondary) divergeFolder(ctx context.Context, id string, start uint64, next *index.EpochMark) (int, error) {
	var diverged []index.Entry
	if _, err := s.db.Since(id, start, 0, func(e index.Entry) error {
		diverged = append(diverged, e)
		return nil
	}); err != nil {
		return 0, err
	}
	f := s.folders[id]
	f.applyMu.Lock() // no repair meanwhile (heal.go)
	defer f.applyMu.Unlock()
	reason := fmt.Sprintf("changed on this node after %s took over as primary of epoch %d (at sequence %d); replaced by that primary's version", next.Node, next.Epoch, start)
	n := 0
	seen := make(map[string]index.Stat) // what was on disk when it was kept
	for _, e := range diverged {
		if e.Deleted || e.Kind == index.KindDir {
			continue
		}
		if s.local == nil {
			return n, fmt.Errorf("rejoin folder %q: %d paths changed here after sequence %d (first %q): %w",
				id, len(diverged), start, diverged[0].Path, errNoStore)
		}
		it := preserve.Item{Folder: id, Path: e.Path, Epoch: e.Version.Epoch, Node: e.Version.Node, Seq: e.Seq,
			Cause: preserve.CauseRejoin, Reason: reason}
		if it.Node == "" {
			it.Node = s.opts.Node
		}
		k := s.local.keepers[id]
		if k.store == nil {
			return n, fmt.Errorf("rejoin folder %q: %w: %w", id, errNoStore, k.storeErr)
		}
		st, kept, err := preserveAt(ctx, k.store, f.cfg.Path, it)
		if err != nil {
			return n, fmt.Errorf("rejoin folder %q: %w", id, err)
		}
		if kept {
			n++
			seen[e.Path] = st
		}
	}
	if err := s.removeDiverged(ctx, id, diverged, seen); err != nil {
		return n, fmt.Errorf("rejoin folder %q: %w", id, err)
	}
	return n, nil
}

// removeDiverged removes the diverged files and symlinks of folder id
// through the confined writer (as tombstones), then the diverged
// directories that are left empty, deepest first (through os.Root, which
// removes only empty directories and nothing outside the root).
//
// seen holds the stat of each object as it was when it was preserved: the
// writer removes it only if it is still that (anything changed since is
// kept by its local-change check first, never lost).
func (s *Secondary) removeDiverged(ctx context.Context, id string, diverged []index.Entry, seen map[string]index.Stat) error {
	f := s.folders[id]
	var tombs []index.Entry
	var seenAt []index.Stat // what ncsync last wrote at each of tombs: what it kept
	var dirs []string
	for _, e := range diverged {
		switch {
		case e.Deleted, e.Path == index.RootPath: // the root stays; the new primary sets its metadata
		case e.Kind == index.KindDir:
			dirs = append(dirs, e.Path)
		default:
			st, ok := seen[e.Path]
			if !ok {
				continue // gone already: nothing to remove
			}
			tombs = append(tombs, index.Entry{Path: e.Path, Seq: e.Seq, Kind: e.Kind, Deleted: true, Version: e.Version})
			seenAt = append(seenAt, st)
		}
	}
	if len(tombs) > 0 {
		known := apply.Known{LastWritten: seenAt}
		err := s.db.View(id, func(tx *index.Tx) error {
			var err error
			known.Dirs, err = dirsOf(tx, nil, tombs)
			return err
		})
		if err != nil {
			return err
		}
		results, err := f.w.Apply(ctx, tombs, nil, known)
		if err != nil {
			return err
		}
		for i, r := range results {
			if r.Err != nil {
				return fmt.Errorf("remove %q: %w", tombs[i].Path, r.Err)
			}
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	r, err := os.OpenRoot(f.cfg.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range dirs {
		err := r.Remove(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("remove directory %q: %w", d, err)
		}
	}
	return nil
}

// preserveAt keeps the object at it.Path beneath root in store and returns
// its stat from just before it was copied. The parent is resolved beneath
// root without following symlinks (openat2), and the object itself is not
// followed either. A path that is gone is not an error: kept is then
// false. Kernels without openat2 resolve the parent through fsys's walk.
func preserveAt(ctx context.Context, store *preserve.Store, root string, it preserve.Item) (st index.Stat, kept bool, err error) {
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return index.Stat{}, false, fmt.Errorf("open folder root %q: %w", root, err)
	}
	defer unix.Close(rootfd)
	parent, name := path.Split(it.Path)
	dirfd, err := fsys.OpenDirBeneath(rootfd, strings.TrimSuffix(parent, "/"))
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return index.Stat{}, false, nil
	}
	if err != nil {
		return index.Stat{}, false, fmt.Errorf("open parent of %q: %w", it.Path, err)
	}
	if dirfd != rootfd {
		defer unix.Close(dirfd)
	}
	var ks unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &ks, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return index.Stat{}, false, nil
		}
		return index.Stat{}, false, fmt.Errorf("stat %q: %w", it.Path, err)
	}
	if _, err := store.SaveAt(ctx, it, dirfd, name); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return index.Stat{}, false, nil
		}
		return index.Stat{}, false, err
	}
	// Kept by a hard link, the object has a new ctime (and link count)
	// but is the same version: take its stat as it is now, so that its
	// removal does not take it for a local change and keep it again.
	var now unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &now, unix.AT_SYMLINK_NOFOLLOW); err == nil &&
		now.Ino == ks.Ino && now.Size == ks.Size && now.Mtim == ks.Mtim {
		ks = now
	}
	return fsys.StatOf(&ks), true, nil
}
