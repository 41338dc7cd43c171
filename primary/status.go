package primary

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// statusLagLimit bounds the journal entries a status request reads per
// peer and folder to count the lag (about 20 ms of work): beyond it the
// lag is shown as a lower bound.
const statusLagLimit = 50_000

// Status reports the folders and every configured or connected secondary.
func (p *Primary) Status(ctx context.Context) (report.Node, error) {
	meta, err := p.db.Meta()
	if err != nil {
		return report.Node{}, err
	}
	now := time.Now()
	st := report.Node{Node: p.opts.Node, Role: pki.RolePrimary, ClusterID: p.opts.ClusterID, Epoch: meta.Epoch, Started: p.started}
	paused := make(map[string]bool)
	for _, pa := range p.Pauses() {
		paused[pa.Peer] = true
		sp := statusOfPause(pa)
		sp.StagedBytes = p.stagedBytes(pa.Peer)
		st.Pauses = append(st.Pauses, sp)
	}
	heads := make(map[string]uint64)
	for _, id := range p.order {
		f := p.folders[id]
		head, err := p.db.Head(id)
		if err != nil {
			return st, err
		}
		heads[id] = head
		stats, err := p.db.Stats(id)
		if err != nil {
			return st, err
		}
		c := f.scan.Counters()
		fs := report.Folder{
			ID: id, Path: f.cfg.Path, Seq: head,
			Files: stats.Files, Dirs: stats.Dirs, Bytes: stats.Bytes,
			Scans: uint64(c.Scans), FilesHashed: uint64(c.FilesHashed),
		}
		if w := f.watcher.Load(); w != nil {
			ws := w.Stats()
			fs.Watched, fs.Overflows, fs.Degraded = uint64(ws.Watched), ws.Overflows, ws.Degraded
		}
		if fs.ScanError = f.retry.status(); fs.ScanError != nil {
			fs.LastError = fs.ScanError.Error
		}
		f.mu.Lock()
		fs.LastScan, fs.AuditFindings = f.lastScan, f.auditFound
		fs.Held, fs.HeldTotal = slices.Clone(f.held), f.heldTotal
		if f.watchErr != "" {
			fs.Degraded = "not watched (rescanned every scan_interval): " + f.watchErr
		}
		f.mu.Unlock()
		st.Folders = append(st.Folders, fs)
	}
	p.mu.Lock()
	names := make([]string, 0, len(p.peers))
	for n := range p.peers {
		names = append(names, n)
	}
	p.mu.Unlock()
	slices.Sort(names)
	// Where a lag is to be counted: one read of each folder's journal
	// serves every peer behind in it.
	type lagAt struct{ peer, folder int }
	lagsOf := make(map[string][]lagAt)
	for _, n := range names {
		ps := p.peer(n)
		acked, err := p.db.PeerAcks(n)
		if err != nil {
			return st, err
		}
		ps.mu.Lock()
		ep := report.Peer{Node: n, Role: pki.RoleSecondary, Connected: ps.sessions > 0, Address: ps.addr,
			LastSeen: ps.lastSeen, LastError: ps.lastErr, Paused: paused[n]}
		if ep.Connected {
			ep.ConnectedSince = ps.since
		}
		for f, seq := range ps.acked {
			if seq > acked[f] {
				acked[f] = seq
			}
		}
		applyErr, traffic := maps.Clone(ps.applyErr), maps.Clone(ps.traffic)
		ps.mu.Unlock()
		for _, id := range p.order {
			t := traffic[id]
			pf := report.PeerFolder{Folder: id, AckedSeq: acked[id], ApplyError: applyErr[id],
				EntriesSent: t.entries, BytesSent: t.bytes, EntriesRefused: t.refused, ChunkListDeltas: t.deltas}
			if pf.AckedSeq < heads[id] {
				lagsOf[id] = append(lagsOf[id], lagAt{len(st.Peers), len(ep.Folders)})
				pf.Lag = p.folders[id].lagSince(pf.AckedSeq, now)
			}
			ep.Folders = append(ep.Folders, pf)
		}
		st.Peers = append(st.Peers, ep)
	}
	for id, at := range lagsOf {
		afters := make([]uint64, len(at))
		for i, a := range at {
			afters[i] = st.Peers[a.peer].Folders[a.folder].AckedSeq
		}
		lags, err := p.db.Lags(id, afters, statusLagLimit)
		if err != nil {
			return st, err
		}
		for i, a := range at {
			pf := &st.Peers[a.peer].Folders[a.folder]
			pf.LagEntries, pf.LagBytes, pf.LagAtLeast = lags[i].Entries, lags[i].Bytes, !lags[i].Exact
		}
	}
	return st, nil
}
