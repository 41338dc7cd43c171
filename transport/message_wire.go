package transport

import (
	"fmt"
	"time"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// sendMessage turns m into Sync messages within lim (a Batch may take
// several, see splitBatch) and passes each to emit in order.
func sendMessage(m Message, lim Limits, emit func(*ncsyncv1.SyncResponse) error) error {
	switch m := m.(type) {
	case Batch:
		return splitBatch(&m, lim, emit)
	case ApplyStaged:
		if m.Folder == "" {
			return fmt.Errorf("send apply staged: empty folder id")
		}
		return emit(&ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_ApplyStaged{ApplyStaged: &ncsyncv1.ApplyStaged{FolderId: m.Folder}}})
	case TreeHashQuery:
		if m.Folder == "" || m.ID == 0 {
			return fmt.Errorf("send a tree hash query: folder %q, id %d", m.Folder, m.ID)
		}
		return emit(&ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_TreeHashQuery{TreeHashQuery: &ncsyncv1.TreeHashQuery{FolderId: m.Folder, Id: m.ID}}})
	case VerifyQuery:
		pq, err := verifyQueryToWire(m)
		if err != nil {
			return err
		}
		return emit(&ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Verify{Verify: pq}})
	case PauseState:
		ps, err := pauseStateToWire(m)
		if err != nil {
			return err
		}
		return emit(&ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_PauseState{PauseState: ps}})
	}
	return fmt.Errorf("send: %T is not a message of a session", m)
}

// orderFromWire converts and checks a message of the primary that is not
// part of a batch: an ApplyStaged, a TreeHashQuery, a VerifyQuery or a
// PauseState. ok is
// false for any other message.
func orderFromWire(m *ncsyncv1.SyncResponse) (msg Message, ok bool, err error) {
	switch m := m.GetMsg().(type) {
	case *ncsyncv1.SyncResponse_ApplyStaged:
		if m.ApplyStaged.GetFolderId() == "" {
			return nil, true, protocolErr("apply staged without a folder")
		}
		return ApplyStaged{Folder: m.ApplyStaged.FolderId}, true, nil
	case *ncsyncv1.SyncResponse_TreeHashQuery:
		q := TreeHashQuery{Folder: m.TreeHashQuery.GetFolderId(), ID: m.TreeHashQuery.GetId()}
		if q.Folder == "" || q.ID == 0 {
			return nil, true, protocolErr("tree hash query with folder %q and id %d", q.Folder, q.ID)
		}
		return q, true, nil
	case *ncsyncv1.SyncResponse_Verify:
		q, err := verifyQueryFromWire(m.Verify)
		if err != nil {
			return nil, true, err
		}
		return q, true, nil
	case *ncsyncv1.SyncResponse_PauseState:
		ps, err := pauseStateFromWire(m.PauseState)
		if err != nil {
			return nil, true, err
		}
		return ps, true, nil
	}
	return nil, false, nil
}

// pauseStateToWire refuses a pause without its id or times, and an end
// of a pause that names one.
func pauseStateToWire(m PauseState) (*ncsyncv1.PauseState, error) {
	if !m.Paused {
		if m.ID != "" || !m.Since.IsZero() || !m.Expires.IsZero() || len(m.Hold) > 0 {
			return nil, fmt.Errorf("send pause state: not paused, yet pause %q", m.ID)
		}
		return &ncsyncv1.PauseState{}, nil
	}
	if m.ID == "" || m.Since.IsZero() || m.Expires.Before(m.Since) {
		return nil, fmt.Errorf("send pause state: pause %q since %v until %v", m.ID, m.Since, m.Expires)
	}
	return &ncsyncv1.PauseState{Paused: true, Id: m.ID, SinceUnixNs: m.Since.UnixNano(), ExpiresUnixNs: m.Expires.UnixNano(),
		Hold: positionsToWire(m.Hold)}, nil
}

// pauseStateFromWire converts and checks a PauseState: a pause has an
// id of at most maxPauseIDLen bytes, a start and an expiry not before it,
// and hold points of distinct folders; the end of a pause has none of them.
func pauseStateFromWire(pp *ncsyncv1.PauseState) (PauseState, error) {
	if !pp.GetPaused() {
		if pp.GetId() != "" || pp.GetSinceUnixNs() != 0 || pp.GetExpiresUnixNs() != 0 || len(pp.GetHold()) > 0 {
			return PauseState{}, protocolErr("pause state: not paused, yet pause %q", truncate(pp.GetId(), maxPauseIDLen))
		}
		return PauseState{}, nil
	}
	if id := pp.GetId(); id == "" || len(id) > maxPauseIDLen {
		return PauseState{}, protocolErr("pause state: pause id of %d bytes (1 to %d)", len(id), maxPauseIDLen)
	}
	since, expires := pp.GetSinceUnixNs(), pp.GetExpiresUnixNs()
	if since <= 0 || expires < since {
		return PauseState{}, protocolErr("pause state: pause %q since %d until %d (Unix ns)", pp.GetId(), since, expires)
	}
	hold, err := positionsFromWire(pp.GetHold(), "pause state hold")
	if err != nil {
		return PauseState{}, err
	}
	return PauseState{Paused: true, ID: pp.GetId(), Since: time.Unix(0, since), Expires: time.Unix(0, expires), Hold: hold}, nil
}

// maxPauseIDLen bounds a pause id from the wire (the primary makes them
// of 12 hex digits).
const maxPauseIDLen = 64

func treeHashReportToWire(r TreeHashReport) (*ncsyncv1.SyncRequest, error) {
	if r.Folder == "" || r.Query == 0 {
		return nil, fmt.Errorf("send a tree hash report: folder %q, query %d", r.Folder, r.Query)
	}
	pr := &ncsyncv1.TreeHashReport{FolderId: r.Folder, Query: r.Query, Sequence: r.Seq, Entries: r.Entries,
		Error: truncate(r.Error, maxErrorLen)}
	if r.Error == "" {
		pr.Hash = r.Hash[:]
	}
	return &ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_TreeHash{TreeHash: pr}}, nil
}

// treeHashReportFromWire converts and checks a report: a folder, a query
// id, and a 32-byte hash unless it reports an error.
func treeHashReportFromWire(pr *ncsyncv1.TreeHashReport) (TreeHashReport, error) {
	r := TreeHashReport{Folder: pr.GetFolderId(), Query: pr.GetQuery(), Seq: pr.GetSequence(), Entries: pr.GetEntries(),
		Error: truncate(pr.GetError(), maxErrorLen)}
	if r.Folder == "" || r.Query == 0 {
		return r, protocolErr("tree hash report with folder %q and query %d", r.Folder, r.Query)
	}
	if r.Error == "" {
		h, err := idFromWire(pr.GetHash(), "tree hash")
		if err != nil {
			return r, err
		}
		r.Hash = h
	}
	return r, nil
}

// replyFromWire converts and checks a message of the secondary after its
// Hello; a Heartbeat is (nil, nil).
func replyFromWire(m *ncsyncv1.SyncRequest, lim Limits) (Reply, error) {
	switch m := m.GetMsg().(type) {
	case *ncsyncv1.SyncRequest_Ack:
		return ackFromWire(m.Ack, lim)
	case *ncsyncv1.SyncRequest_TreeHash:
		return treeHashReportFromWire(m.TreeHash)
	case *ncsyncv1.SyncRequest_Heartbeat:
		return nil, nil
	}
	return nil, protocolErr("expected an Ack or a TreeHashReport, got %T", m.GetMsg())
}
