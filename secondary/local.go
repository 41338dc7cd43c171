package secondary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/report"
)

// localKeeper is one folder's apply.LocalKeeper: it answers what ncsync
// last wrote at a path from the index, and keeps local versions in the
// folder's conflict store before the primary's change replaces them.
type localKeeper struct {
	s      *Secondary
	folder string
	store  *preserve.Store // nil when it could not be opened: storeErr says why
	log    *slog.Logger
	kept   atomic.Uint64 // records of local changes of this folder in the store
	// repairing is set while a repair (heal.go) applies: what is kept
	// then was changed here while nothing came from the primary.
	repairing atomic.Bool

	storeErr error
}

// localState is the conflict stores and the folders' keepers; nil without
// Options.ConflictDir (local changes then fail their entries with
// apply.ErrLocalChange and are retried).
type localState struct {
	stores  []*preserve.Store       // each once, in folder order
	keepers map[string]*localKeeper // by folder
}

// openConflicts opens each folder's conflict store (none if
// Options.ConflictDir is ""): the folder's conflicts.dir, or the store
// under the state directory when it is on the folder's file system, or
// else the folder's own store at its root (preserve.PlaceFor). It sweeps
// what a crash left there, and gives every folder a keeper counting the
// local changes already kept. A folder whose store cannot be opened keeps
// a keeper that fails every Keep with the reason: its local changes wait,
// and the others replicate.
func (s *Secondary) openConflicts() error {
	if s.opts.ConflictDir == "" {
		return nil
	}
	l := &localState{keepers: make(map[string]*localKeeper, len(s.opts.Folders))}
	byDir := map[string]*preserve.Store{}
	for _, fc := range s.opts.Folders {
		k := &localKeeper{s: s, folder: fc.ID, log: s.log.With("folder", fc.ID)}
		l.keepers[fc.ID] = k
		place, err := preserve.PlaceFor(s.opts.ConflictDir, fc.Path, fc.ConflictsDir)
		if err != nil {
			k.storeErr = err
			k.log.Error("no conflict store: local changes in this folder wait", "err", err)
			continue
		}
		st := byDir[place.Dir]
		if st == nil {
			if st, err = s.openStore(place); err != nil {
				k.storeErr = err
				k.log.Error("no conflict store: local changes in this folder wait", "err", err)
				continue
			}
			byDir[place.Dir] = st
			l.stores = append(l.stores, st)
		}
		k.store = st
	}
	s.local = l
	for _, st := range l.stores {
		err := st.Each(func(r preserve.Record) error {
			if k := l.keepers[r.Folder]; k != nil && r.Cause == preserve.CauseLocalChange {
				k.kept.Add(1)
			}
			return nil
		})
		if err != nil {
			s.log.Warn("some conflict records cannot be read", "dir", st.Dir(), "err", err)
		}
	}
	return nil
}

// openStore opens the store at place and sweeps what a crash left there.
func (s *Secondary) openStore(place preserve.Place) (*preserve.Store, error) {
	st, err := place.Open(s.opts.ConflictLimits)
	if err != nil {
		return nil, err
	}
	if n, err := st.Sweep(); err != nil {
		st.Close()
		return nil, err
	} else if n > 0 {
		s.log.Info("removed unfinished conflict records left by a crash", "dir", st.Dir(), "count", n)
	}
	if place.Root != "" {
		s.log.Info("conflict store kept at the folder root: state_dir is on another file system", "dir", st.Dir())
	}
	return st, nil
}

// closeConflicts releases the stores.
func (s *Secondary) closeConflicts() {
	if s.local == nil {
		return
	}
	for _, st := range s.local.stores {
		st.Close()
	}
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

// Conflicts lists the versions kept in the conflict stores, oldest first.
func (s *Secondary) Conflicts(context.Context) ([]preserve.Record, error) {
	if s.local == nil {
		return nil, nil
	}
	return preserve.ListAll(s.local.stores)
}

// PruneConflicts removes (or, with dryRun, lists) the versions kept before
// cutoff from every conflict store. A folder waiting for room applies on
// its next attempt.
func (s *Secondary) PruneConflicts(ctx context.Context, cutoff time.Time, dryRun bool) ([]preserve.Pruned, error) {
	if s.local == nil {
		return nil, nil
	}
	out, err := preserve.PruneAll(ctx, s.local.stores, cutoff, dryRun)
	if !dryRun {
		for _, p := range out {
			if k := s.local.keepers[p.Record.Folder]; k != nil && p.Record.Cause == preserve.CauseLocalChange {
				k.kept.Add(^uint64(0))
			}
		}
	}
	return out, err
}

// LastWritten implements apply.LocalKeeper.
func (k *localKeeper) LastWritten(p string) (index.Stat, bool) {
	e, ok, err := k.s.db.Get(k.folder, p)
	if err != nil || !ok || e.Deleted || e.Stat == (index.Stat{}) {
		return index.Stat{}, false
	}
	return e.Stat, true
}

// Keep implements apply.LocalVersion: the local version goes to the
// conflict store, durably, before apply replaces it.
func (k *localKeeper) Keep(ctx context.Context, v apply.LocalVersion) error {
	k.s.mu.Lock()
	epoch := k.s.epoch
	k.s.mu.Unlock()
	if epoch == 0 { // before the first session (a rejoin): the index knows
		if m, err := k.s.db.Meta(); err == nil {
			epoch = m.Epoch
		}
	}
	reason := localReason(v)
	if k.repairing.Load() {
		reason = repairReason(v) // heal.go
	}
	it := preserve.Item{Folder: k.folder, Path: v.Path, Epoch: epoch, Node: k.s.opts.Node,
		Cause: preserve.CauseLocalChange, Reason: reason}
	if k.store == nil {
		return fmt.Errorf("no conflict store: %w", k.storeErr)
	}
	rec, err := k.store.SaveAt(ctx, it, v.Dir, v.Name)
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
	if v.LastWritten == (index.Stat{}) {
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

// storeFull describes entry e waiting because err, its failure, is a
// conflict store without room; nil for any other failure.
func storeFull(e index.Entry, err error) *report.ConflictStoreFull {
	var full *preserve.FullError
	if !errors.As(err, &full) {
		return nil
	}
	u := full.Usage
	return &report.ConflictStoreFull{Path: e.Path, Seq: e.Seq, KeptPath: full.Path, Store: u.Dir,
		UsedBytes: u.Bytes, MaxBytes: u.MaxBytes, NeedBytes: full.Need, UsedFiles: u.Files, MaxFiles: u.MaxFiles,
		Message: full.Error()}
}
