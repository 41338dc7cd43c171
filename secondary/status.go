package secondary

import (
	"context"
	"maps"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// Status reports the folders and the primary this node follows.
func (s *Secondary) Status(ctx context.Context) (report.Node, error) {
	meta, err := s.db.Meta()
	if err != nil {
		return report.Node{}, err
	}
	st := report.Node{Node: s.opts.Node, Role: pki.RoleSecondary, ClusterID: s.opts.ClusterID, Epoch: meta.Epoch, Started: s.started}
	s.mu.Lock()
	pr := report.Peer{Node: s.primaryNode, Role: pki.RolePrimary, Connected: s.connected, Address: s.opts.Primary,
		LastSeen: s.lastSeen, LastError: s.lastErr, Epoch: s.epoch, BytesReceived: uint64(s.fetchedBytes.Load())}
	if s.connected {
		pr.ConnectedSince = s.since
	} else {
		pr.DisconnectedSince = s.downSince
		// The node it will accept next (identity.go).
		pr.Node = expectedPrimary(meta, s.opts.Node, s.opts.PrimaryNode).node
	}
	heads, catchUp, behind := maps.Clone(s.heads), maps.Clone(s.catchUp), maps.Clone(s.behind)
	pause := s.pause
	s.mu.Unlock()
	now := time.Now()
	for _, id := range s.order {
		f := s.folders[id]
		pos, err := s.db.Position(id)
		if err != nil {
			return st, err
		}
		stats, err := s.db.Stats(id)
		if err != nil {
			return st, err
		}
		f.mu.Lock()
		fs := report.Folder{ID: id, Path: f.cfg.Path, Seq: pos,
			Files: stats.Files, Dirs: stats.Dirs, Bytes: stats.Bytes, LastError: f.lastErr,
			LocalChanges: s.localChanges(id), IgnoredHere: f.ignored.Load(), Repairs: f.repairs.Load(),
			ConflictStoreFull: f.storeFull}
		f.mu.Unlock()
		f.counts.report(&fs)
		st.Folders = append(st.Folders, fs)
		pf := report.PeerFolder{Folder: id, AckedSeq: pos}
		if h := heads[id]; h > pos {
			pf.LagEntries = h - pos // an upper bound: the journal is sparse
			if t, ok := behind[id]; ok {
				pf.Lag = now.Sub(t)
			}
		}
		target, began := catchUp[id]
		pf.CatchingUp, pf.CatchUpTo = !began || pos < target, target
		pr.Folders = append(pr.Folders, pf)
	}
	st.Peers = append(st.Peers, pr)
	st.StagedBytes = uint64(max(s.stagedBytes.Load(), 0))
	if pause.Paused {
		st.Paused = true
		st.Pauses = []report.Pause{pauseReport(s.opts.Node, pause, st.StagedBytes)}
	}
	st.ConflictStores = s.conflictStores()
	return st, nil
}

// conflictStores reports each conflict store's use; a store that cannot
// be counted is left out (its folders show the error when they use it).
func (s *Secondary) conflictStores() []report.ConflictStore {
	if s.local == nil {
		return nil
	}
	var out []report.ConflictStore
	for _, st := range s.local.stores {
		u, err := st.Usage()
		if err != nil {
			continue
		}
		cs := report.ConflictStore{Dir: u.Dir, Records: uint64(u.Files), Bytes: uint64(max(u.Bytes, 0)),
			MaxBytes: uint64(max(u.MaxBytes, 0)), MaxFiles: uint64(max(u.MaxFiles, 0))}
		for _, id := range s.order {
			if k := s.local.keepers[id]; k != nil && k.store == st {
				cs.Folders = append(cs.Folders, id)
			}
		}
		out = append(out, cs)
	}
	return out
}
