package secondary

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/preserve"
)

// localKeeper is one folder's apply.LocalKeeper: it answers what ncsync
// last wrote at a path from the index, and keeps local versions in the
// conflict store before the primary's change replaces them.
type localKeeper struct {
	s      *Secondary
	folder string
	store  *preserve.Store
	log    *slog.Logger
	kept   atomic.Uint64 // records of local changes of this folder in the store
}

// localState is the conflict store and the folders' keepers; nil without
// Options.ConflictDir (local changes then fail their entries with
// apply.ErrLocalChange and are retried).
type localState struct {
	store   *preserve.Store
	keepers map[string]*localKeeper // by folder
}

// openConflicts opens the conflict store at dir (none if dir is ""),
// sweeps what a crash left there, and gives every folder a keeper counting
// the local changes already kept.
func (s *Secondary) openConflicts(dir string) error {
	if dir == "" {
		return nil
	}
	st, err := preserve.Open(dir)
	if err != nil {
		return err
	}
	if n, err := st.Sweep(); err != nil {
		return err
	} else if n > 0 {
		s.log.Info("removed unfinished conflict records left by a crash", "dir", dir, "count", n)
	}
	l := &localState{store: st, keepers: make(map[string]*localKeeper, len(s.opts.Folders))}
	for _, fc := range s.opts.Folders {
		l.keepers[fc.ID] = &localKeeper{s: s, folder: fc.ID, store: st, log: s.log.With("folder", fc.ID)}
	}
	s.local = l
	err = st.Each(func(r preserve.Record) error {
		if k := l.keepers[r.Folder]; k != nil && r.Cause == preserve.CauseLocalChange {
			k.kept.Add(1)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("some conflict records cannot be read", "dir", dir, "err", err)
	}
	return nil
}

// keeper returns folder's LocalKeeper, nil without a conflict store.
func (s *Secondary) keeper(folder string) apply.LocalKeeper {
	if s.local == nil || s.local.keepers[folder] == nil {
		return nil
	}
	return s.local.keepers[folder]
}

// localChanges is the number of local changes kept for folder.
func (s *Secondary) localChanges(folder string) uint64 {
	if s.local == nil || s.local.keepers[folder] == nil {
		return 0
	}
	return s.local.keepers[folder].kept.Load()
}

// Conflicts lists the versions kept in the conflict store, oldest first.
func (s *Secondary) Conflicts(context.Context) ([]preserve.Record, error) {
	if s.local == nil {
		return nil, nil
	}
	return s.local.store.List()
}

// fillWritten sets each entry's Stat to what this node recorded after its
// own last change to the path (zero if it never wrote the path or last
// removed it): apply compares it with the disk to find local changes.
func (s *Secondary) fillWritten(folder string, entries []index.Entry) error {
	if s.keeper(folder) == nil {
		return nil
	}
	return s.db.View(folder, func(tx *index.Tx) error {
		for i := range entries {
			e, ok, err := tx.Get(entries[i].Path)
			if err != nil {
				return err
			}
			entries[i].Stat = index.Stat{}
			if ok && !e.Deleted {
				entries[i].Stat = e.Stat
			}
		}
		return nil
	})
}

// Written implements apply.LocalKeeper.
func (k *localKeeper) Written(p string) (index.Stat, bool) {
	e, ok, err := k.s.db.Get(k.folder, p)
	if err != nil || !ok || e.Deleted || e.Stat == (index.Stat{}) {
		return index.Stat{}, false
	}
	return e.Stat, true
}

// Keep implements apply.LocalVersion: the local version goes to the
// conflict store, durably, before apply replaces it.
func (k *localKeeper) Keep(v apply.LocalVersion) error {
	k.s.mu.Lock()
	epoch := k.s.epoch
	k.s.mu.Unlock()
	if epoch == 0 { // before the first session (a rejoin): the index knows
		if m, err := k.s.db.Meta(); err == nil {
			epoch = m.Epoch
		}
	}
	it := preserve.Item{Folder: k.folder, Path: v.Path, Epoch: epoch, Node: k.s.opts.Node,
		Cause: preserve.CauseLocalChange, Reason: localReason(v)}
	rec, err := k.store.SaveAt(context.Background(), it, v.Dir, v.Name)
	if err != nil {
		k.log.Error("could not keep a local change; the primary's change waits", "path", v.Path, "err", err)
		return err
	}
	k.kept.Add(1)
	k.log.Warn("local change kept before applying the primary's change", "path", v.Path,
		"id", rec.ID, "kept_at", rec.KeptAt, "size", rec.Size, "reason", rec.Reason)
	return nil
}

// localReason says in words what happened to v.
func localReason(v apply.LocalVersion) string {
	what := "changed on this node since ncsync wrote it"
	if v.Written == (index.Stat{}) {
		what = "created on this node, not by ncsync"
	}
	by := v.By
	var change string
	switch {
	case by.Path != v.Path && by.Deleted:
		change = fmt.Sprintf("the primary deleted the directory %q", by.Path)
	case by.Path != v.Path:
		change = fmt.Sprintf("the primary replaced the directory %q with a %s", by.Path, by.Kind)
	case by.Deleted:
		change = "the primary deleted it"
	default:
		change = fmt.Sprintf("the primary's %s replaced it", by.Kind)
	}
	return fmt.Sprintf("%s %s; %s (sequence %d, epoch %d)", v.Kind, what, change, by.Seq, by.Version.Epoch)
}
