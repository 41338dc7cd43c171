package secondary

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/transport"
)

// repairPlan is what one pass changes.
type repairPlan struct {
	remove []index.Entry         // tombstones of objects the primary does not have
	put    []index.Entry         // the index's versions to put back, parents first
	how    map[string]string     // what was found at each path, for the log
	restat map[string]index.Stat // same content and metadata: only the recorded stat moves
	dirs   apply.DirMeta         // the directories of remove and put
}

// putKnown is what ncsync last wrote at the paths of pl.put: the stat
// recorded with the index's versions it puts back.
func (pl *repairPlan) putKnown() apply.Known {
	k := apply.Known{LastWritten: make([]index.Stat, len(pl.put)), Dirs: pl.dirs}
	for i, e := range pl.put {
		k.LastWritten[i] = e.Stat
	}
	return k
}

// pass looks at paths under applyMu and repairs those that differ from
// what ncsync last wrote. It returns the paths to try again later.
func (h *healer) pass(ctx context.Context, paths []string) (retry []string) {
	h.f.applyMu.Lock()
	defer h.f.applyMu.Unlock()
	c := h.s.heal.current()
	if c == nil || h.f.failing() {
		return paths // the session ended, or a batch failed: later
	}
	refused, err := h.refusedPaths()
	if err != nil {
		h.log.Warn("cannot repair local changes", "err", err)
		return paths
	}
	rootfd, err := unix.Open(h.f.cfg.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		h.log.Warn("cannot repair local changes", "err", err)
		return paths
	}
	var todo []string
	err = h.s.db.View(h.id, func(tx *index.Tx) error {
		for _, p := range paths {
			if h.differs(tx, rootfd, refused, p) {
				todo = append(todo, p)
			}
		}
		return nil
	})
	unix.Close(rootfd)
	if err != nil {
		h.log.Warn("cannot repair local changes", "err", err)
		return paths
	}
	if len(todo) == 0 {
		return nil
	}
	h.div.reset()
	res, err := h.scan.Scan(ctx, todo...)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("cannot look at local changes", "paths", len(todo), "err", err)
		}
		return todo
	}
	pl, err := h.plan(refused)
	if err != nil {
		h.log.Warn("cannot repair local changes", "err", err)
		return todo
	}
	return append(res.Failed, h.repair(ctx, c, pl)...)
}

// plan turns what the scan found into repairs. A path beneath one whose
// whole subtree a repair replaces (an object the primary does not have, a
// directory the primary has as a file or symlink) is left to that repair:
// apply keeps what it holds before removing it.
func (h *healer) plan(refused map[string]bool) (repairPlan, error) {
	pl := repairPlan{how: map[string]string{}, restat: map[string]index.Stat{}}
	found, restat := h.div.found, h.div.restat
	paths := make([]string, 0, len(found))
	for p := range found {
		paths = append(paths, p)
	}
	slices.Sort(paths) // a parent sorts before its children
	covered := map[string]bool{}
	err := h.s.db.View(h.id, func(tx *index.Tx) error {
		for _, p := range paths {
			if inTree(refused, p) || inTree(covered, parentOf(p)) {
				continue
			}
			d := found[p]
			e, ok, err := tx.Get(p)
			if err != nil {
				return err
			}
			live := ok && !e.Deleted
			switch {
			case p == index.RootPath && !live:
				// The root has no entry (a primary that does not
				// replicate its metadata): it is never removed.
			case live && h.equivalent(d, e):
				if d.Kind != index.KindDir && d.Stat.CtimeNs != 0 {
					pl.restat[p] = d.Stat
				}
			case live:
				pl.put = append(pl.put, e)
				pl.how[p] = divergenceOf(d, e)
				if e.Kind != index.KindDir {
					covered[p] = true
				}
			case !d.Deleted:
				pl.remove = append(pl.remove, index.Entry{Path: p, Kind: d.Kind, Deleted: true})
				pl.how[p] = fmt.Sprintf("%s made on this node, where the primary has nothing", d.Kind)
				covered[p] = true
			}
		}
		for p, st := range restat {
			if e, ok, err := tx.Get(p); err == nil && ok && !e.Deleted && e.Kind != index.KindDir &&
				st.CtimeNs != 0 && !inTree(refused, p) {
				pl.restat[p] = st
			}
		}
		var err error
		pl.dirs, err = dirsOf(tx, nil, slices.Concat(pl.remove, pl.put))
		return err
	})
	return pl, err
}

// divergenceOf says how the tree's version d differs from e.
func divergenceOf(d, e index.Entry) string {
	switch {
	case d.Deleted:
		return fmt.Sprintf("%s deleted on this node", e.Kind)
	case d.Kind != e.Kind:
		return fmt.Sprintf("%s replaced by a %s on this node", e.Kind, d.Kind)
	case d.Kind == index.KindFile && (d.FileID != e.FileID || d.Size != e.Size):
		return "file edited on this node"
	case d.Kind == index.KindSymlink && d.Target != e.Target:
		return "symlink changed on this node"
	case d.Mode != appliedMode(e.Mode):
		return fmt.Sprintf("%s mode changed on this node (%#o, the primary's %#o)", e.Kind, d.Mode, appliedMode(e.Mode))
	case d.UID != e.UID || d.GID != e.GID:
		return fmt.Sprintf("%s owner changed on this node (%d:%d, the primary's %d:%d)", e.Kind, d.UID, d.GID, e.UID, e.GID)
	}
	return fmt.Sprintf("%s mtime changed on this node", e.Kind)
}

// repair applies pl through the folder's writer (which keeps the local
// versions first) and records the new stats. It returns the paths whose
// repair failed.
func (h *healer) repair(ctx context.Context, c *transport.Client, pl repairPlan) (retry []string) {
	if k := h.s.keeper(h.id); k != nil {
		k := k.(*localKeeper)
		k.repairing.Store(true)
		defer k.repairing.Store(false)
	}
	done := func(e index.Entry, r apply.Result) bool {
		if r.Err != nil {
			if errors.Is(r.Err, errChunkGone) {
				h.log.Info("local change not repaired yet: the primary has changed the path since, and its new version replaces it", "path", e.Path)
			} else if ctx.Err() == nil {
				h.log.Warn("cannot repair a local change; trying again later", "path", e.Path, "found", pl.how[e.Path], "err", r.Err)
			}
			retry = append(retry, e.Path)
			return false
		}
		h.f.repairs.Add(1)
		what := "put back the primary's version"
		if e.Deleted {
			what = "removed it"
		}
		h.log.Warn("repaired a local change: "+what, "path", e.Path, "found", pl.how[e.Path], "seq", e.Seq)
		return true
	}
	if len(pl.remove) > 0 {
		rs, err := h.f.w.Apply(ctx, pl.remove, nil, apply.Known{Dirs: pl.dirs})
		for i, r := range rs {
			done(pl.remove[i], r)
		}
		if err != nil {
			return append(retry, pathsOf(pl.put)...)
		}
	}
	if len(pl.put) > 0 {
		src := newSource(ctx, h.s, c, h.id, pl.put, nil)
		rs, _ := h.f.w.Apply(ctx, pl.put, src, pl.putKnown())
		src.close()
		for i, r := range rs {
			if done(pl.put[i], r) && r.Stat != (index.Stat{}) {
				pl.restat[pl.put[i].Path] = r.Stat
			}
		}
	}
	if len(pl.restat) == 0 {
		return retry
	}
	err := h.s.db.Update(h.id, func(tx *index.Tx) error {
		for p, st := range pl.restat {
			if err := tx.SetStat(p, st); err != nil && !errors.Is(err, index.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The next look finds the same content under another stat and
		// records it then.
		h.log.Warn("cannot record the stat of repaired paths", "err", err)
	}
	return retry
}

func pathsOf(entries []index.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Path
	}
	return out
}

// parentOf is p's directory ("" for the root's children).
func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// repairReason says in words why a repair kept v.
func repairReason(v apply.LocalVersion) string {
	by := v.By
	if by.Deleted && by.Seq == 0 {
		return fmt.Sprintf("%s created on this node, not by ncsync; the primary has nothing at %q: kept, then removed by a repair", v.Kind, by.Path)
	}
	what := "changed on this node since ncsync wrote it"
	if v.LastWritten == (index.Stat{}) {
		what = "created on this node, not by ncsync"
	}
	if by.Path != v.Path {
		return fmt.Sprintf("%s %s; a repair put back the primary's %s at %q (sequence %d, epoch %d)", v.Kind, what, by.Kind, by.Path, by.Seq, by.Version.Epoch)
	}
	return fmt.Sprintf("%s %s; a repair put back the primary's %s (sequence %d, epoch %d)", v.Kind, what, by.Kind, by.Seq, by.Version.Epoch)
}
