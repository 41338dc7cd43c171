package control

import (
	"time"

	"github.com/ncsync/ncsync/pki"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/report"
)

func unixNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNs(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func roleToWire(r pki.Role) ncsyncv1.Role {
	switch r {
	case pki.RolePrimary:
		return ncsyncv1.Role_ROLE_PRIMARY
	case pki.RoleSecondary:
		return ncsyncv1.Role_ROLE_SECONDARY
	}
	return ncsyncv1.Role_ROLE_UNSPECIFIED
}

func roleFromWire(r ncsyncv1.Role) pki.Role {
	switch r {
	case ncsyncv1.Role_ROLE_PRIMARY:
		return pki.RolePrimary
	case ncsyncv1.Role_ROLE_SECONDARY:
		return pki.RoleSecondary
	}
	return ""
}

func statusToWire(st report.Node) *ncsyncv1.StatusResponse {
	r := &ncsyncv1.StatusResponse{Node: st.Node, Role: roleToWire(st.Role), ClusterId: st.ClusterID,
		Epoch: st.Epoch, StartedUnixNs: unixNs(st.Started), Pauses: pausesToWire(st.Pauses), Barriers: barriersToWire(st.Barriers),
		Paused: st.Paused, StagedBytes: st.StagedBytes, ConflictStores: storesToWire(st.ConflictStores)}
	for _, f := range st.Folders {
		r.Folders = append(r.Folders, &ncsyncv1.FolderStatus{Id: f.ID, Path: f.Path, Sequence: f.Seq,
			Files: f.Files, Directories: f.Dirs, Bytes: f.Bytes, Scans: f.Scans,
			LastScanUnixNs: unixNs(f.LastScan), FilesHashed: f.FilesHashed, LastError: f.LastError,
			WatchedDirectories: f.Watched, Overflows: f.Overflows, Degraded: f.Degraded, AuditFindings: f.AuditFindings,
			LocalChanges: f.LocalChanges, IgnoredHere: f.IgnoredHere, Repairs: f.Repairs, ScanError: scanErrorToWire(f.ScanError),
			ConflictStoreFull: storeFullToWire(f.ConflictStoreFull), Held: heldToWire(f.Held), HeldTotal: f.HeldTotal,
			EntriesApplied: f.EntriesApplied, BytesApplied: f.BytesApplied, EntriesRefused: f.EntriesRefused,
			ChunkBytesReused: f.ChunkBytesReused, ChunkBytesFetched: f.ChunkBytesFetched, ChunkListsFetched: f.ChunkListsFetched,
			ChunksPatched: f.ChunksPatched, ChunkPatchesRefused: f.ChunkPatchesRefused})
	}
	for _, p := range st.Peers {
		wp := &ncsyncv1.PeerStatus{Node: p.Node, Role: roleToWire(p.Role), Connected: p.Connected,
			Address: p.Address, ConnectedSinceUnixNs: unixNs(p.ConnectedSince), LastSeenUnixNs: unixNs(p.LastSeen),
			LastError: p.LastError, BytesSent: p.BytesSent, BytesReceived: p.BytesReceived, Folders: peerFoldersToWire(p.Folders),
			DisconnectedSinceUnixNs: unixNs(p.DisconnectedSince), ChunkBytesRaw: p.ChunkBytesRaw, Epoch: p.Epoch,
			Paused: p.Paused}
		r.Peers = append(r.Peers, wp)
	}
	return r
}

func statusFromWire(r *ncsyncv1.StatusResponse) report.Node {
	st := report.Node{Node: r.GetNode(), Role: roleFromWire(r.GetRole()), ClusterID: r.GetClusterId(),
		Epoch: r.GetEpoch(), Started: fromUnixNs(r.GetStartedUnixNs()), Pauses: pausesFromWire(r.GetPauses()),
		Barriers: barriersFromWire(r.GetBarriers()), Paused: r.GetPaused(), StagedBytes: r.GetStagedBytes(),
		ConflictStores: storesFromWire(r.GetConflictStores())}
	for _, f := range r.GetFolders() {
		st.Folders = append(st.Folders, report.Folder{ID: f.GetId(), Path: f.GetPath(), Seq: f.GetSequence(),
			Files: f.GetFiles(), Dirs: f.GetDirectories(), Bytes: f.GetBytes(), Scans: f.GetScans(),
			LastScan: fromUnixNs(f.GetLastScanUnixNs()), FilesHashed: f.GetFilesHashed(), LastError: f.GetLastError(),
			Watched: f.GetWatchedDirectories(), Overflows: f.GetOverflows(), Degraded: f.GetDegraded(), AuditFindings: f.GetAuditFindings(),
			LocalChanges: f.GetLocalChanges(), IgnoredHere: f.GetIgnoredHere(), Repairs: f.GetRepairs(), ScanError: scanErrorFromWire(f.GetScanError()),
			ConflictStoreFull: storeFullFromWire(f.GetConflictStoreFull()), Held: heldFromWire(f.GetHeld()), HeldTotal: f.GetHeldTotal(),
			EntriesApplied: f.GetEntriesApplied(), BytesApplied: f.GetBytesApplied(), EntriesRefused: f.GetEntriesRefused(),
			ChunkBytesReused: f.GetChunkBytesReused(), ChunkBytesFetched: f.GetChunkBytesFetched(), ChunkListsFetched: f.GetChunkListsFetched(),
			ChunksPatched: f.GetChunksPatched(), ChunkPatchesRefused: f.GetChunkPatchesRefused()})
	}
	for _, p := range r.GetPeers() {
		np := report.Peer{Node: p.GetNode(), Role: roleFromWire(p.GetRole()), Connected: p.GetConnected(),
			Address: p.GetAddress(), ConnectedSince: fromUnixNs(p.GetConnectedSinceUnixNs()),
			LastSeen: fromUnixNs(p.GetLastSeenUnixNs()), LastError: p.GetLastError(),
			BytesSent: p.GetBytesSent(), BytesReceived: p.GetBytesReceived(), Folders: peerFoldersFromWire(p.GetFolders()),
			DisconnectedSince: fromUnixNs(p.GetDisconnectedSinceUnixNs()), ChunkBytesRaw: p.GetChunkBytesRaw(), Epoch: p.GetEpoch(),
			Paused: p.GetPaused()}
		st.Peers = append(st.Peers, np)
	}
	return st
}

func peerFoldersToWire(fs []report.PeerFolder) []*ncsyncv1.PeerFolderStatus {
	var out []*ncsyncv1.PeerFolderStatus
	for _, f := range fs {
		out = append(out, &ncsyncv1.PeerFolderStatus{FolderId: f.Folder, AckedSequence: f.AckedSeq,
			LagEntries: f.LagEntries, LagBytes: f.LagBytes, LagNs: int64(f.Lag), LagAtLeast: f.LagAtLeast,
			ApplyError: f.ApplyError, CatchingUp: f.CatchingUp, CatchUpTo: f.CatchUpTo,
			EntriesSent: f.EntriesSent, BytesSent: f.BytesSent, EntriesRefused: f.EntriesRefused, ChunkListDeltas: f.ChunkListDeltas})
	}
	return out
}

func peerFoldersFromWire(ws []*ncsyncv1.PeerFolderStatus) []report.PeerFolder {
	var out []report.PeerFolder
	for _, f := range ws {
		out = append(out, report.PeerFolder{Folder: f.GetFolderId(), AckedSeq: f.GetAckedSequence(),
			LagEntries: f.GetLagEntries(), LagBytes: f.GetLagBytes(), Lag: time.Duration(f.GetLagNs()), LagAtLeast: f.GetLagAtLeast(),
			ApplyError: f.GetApplyError(), CatchingUp: f.GetCatchingUp(), CatchUpTo: f.GetCatchUpTo(),
			EntriesSent: f.GetEntriesSent(), BytesSent: f.GetBytesSent(), EntriesRefused: f.GetEntriesRefused(),
			ChunkListDeltas: f.GetChunkListDeltas()})
	}
	return out
}

func scanErrorToWire(e *report.ScanError) *ncsyncv1.ScanErrorStatus {
	if e == nil {
		return nil
	}
	return &ncsyncv1.ScanErrorStatus{Error: e.Error, SinceUnixNs: unixNs(e.Since), PendingPaths: e.Pending,
		Retries: e.Retries, NextRetryUnixNs: unixNs(e.NextRetry)}
}

func scanErrorFromWire(w *ncsyncv1.ScanErrorStatus) *report.ScanError {
	if w == nil {
		return nil
	}
	return &report.ScanError{Error: w.GetError(), Since: fromUnixNs(w.GetSinceUnixNs()), Pending: w.GetPendingPaths(),
		Retries: w.GetRetries(), NextRetry: fromUnixNs(w.GetNextRetryUnixNs())}
}

func storeFullToWire(f *report.ConflictStoreFull) *ncsyncv1.ConflictStoreFull {
	if f == nil {
		return nil
	}
	return &ncsyncv1.ConflictStoreFull{Path: f.Path, Sequence: f.Seq, KeptPath: f.KeptPath, Store: f.Store,
		UsedBytes: uint64(max(f.UsedBytes, 0)), MaxBytes: uint64(max(f.MaxBytes, 0)), NeedBytes: uint64(max(f.NeedBytes, 0)),
		UsedFiles: uint64(max(f.UsedFiles, 0)), MaxFiles: uint64(max(f.MaxFiles, 0)), Message: f.Message}
}

func storeFullFromWire(w *ncsyncv1.ConflictStoreFull) *report.ConflictStoreFull {
	if w == nil {
		return nil
	}
	return &report.ConflictStoreFull{Path: w.GetPath(), Seq: w.GetSequence(), KeptPath: w.GetKeptPath(), Store: w.GetStore(),
		UsedBytes: int64(min(w.GetUsedBytes(), 1<<62)), MaxBytes: int64(min(w.GetMaxBytes(), 1<<62)),
		NeedBytes: int64(min(w.GetNeedBytes(), 1<<62)), UsedFiles: int(min(w.GetUsedFiles(), 1<<31)),
		MaxFiles: int(min(w.GetMaxFiles(), 1<<31)), Message: w.GetMessage()}
}

func heldToWire(hs []report.Held) []*ncsyncv1.HeldFile {
	var out []*ncsyncv1.HeldFile
	for _, h := range hs {
		out = append(out, &ncsyncv1.HeldFile{Path: h.Path, Reason: h.Reason, SinceUnixNs: unixNs(h.Since), UntilUnixNs: unixNs(h.Until)})
	}
	return out
}

func heldFromWire(ws []*ncsyncv1.HeldFile) []report.Held {
	var out []report.Held
	for _, h := range ws {
		out = append(out, report.Held{Path: h.GetPath(), Reason: h.GetReason(), Since: fromUnixNs(h.GetSinceUnixNs()), Until: fromUnixNs(h.GetUntilUnixNs())})
	}
	return out
}

func storesToWire(cs []report.ConflictStore) []*ncsyncv1.ConflictStoreStatus {
	var out []*ncsyncv1.ConflictStoreStatus
	for _, c := range cs {
		out = append(out, &ncsyncv1.ConflictStoreStatus{Dir: c.Dir, FolderIds: c.Folders, Records: c.Records, Bytes: c.Bytes,
			MaxBytes: c.MaxBytes, MaxFiles: c.MaxFiles})
	}
	return out
}

func storesFromWire(ws []*ncsyncv1.ConflictStoreStatus) []report.ConflictStore {
	var out []report.ConflictStore
	for _, c := range ws {
		out = append(out, report.ConflictStore{Dir: c.GetDir(), Folders: c.GetFolderIds(), Records: c.GetRecords(), Bytes: c.GetBytes(),
			MaxBytes: c.GetMaxBytes(), MaxFiles: c.GetMaxFiles()})
	}
	return out
}
