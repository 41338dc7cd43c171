package report

import "time"

// Position is a sequence number within one folder.
type Position struct {
	Folder string
	Seq    uint64
}

// Barrier is a barrier in progress on a primary (see `ncsync barrier`):
// the peers it waits for and the target it waits for them to reach.
type Barrier struct {
	ID     string
	Peers  []string
	Target []Position // empty while the primary is still journaling pending changes
	Since  time.Time
}

// BarrierProgress is a barrier's state while it waits, and its outcome
// once Done. A barrier that is Done but not Reached ran out of time; a
// barrier that fails otherwise (an unknown peer, a verification mismatch)
// ends with an error instead.
type BarrierProgress struct {
	Target  []Position
	Peers   []BarrierPeer
	Done    bool
	Reached bool
	Message string // the outcome once Done: what was reached, or each laggard with its position and lag
}

// BarrierPeer is one peer's progress toward a barrier's target.
type BarrierPeer struct {
	Node      string
	Connected bool
	Reached   bool
	// Folders holds, per folder, the sequence the peer has acknowledged
	// and what it still has to apply to reach the target (LagEntries,
	// LagBytes; LagAtLeast when the count stopped early).
	Folders []PeerFolder
	Message string // why the peer is behind, if known (disconnected, last error)
}
