package report

import "time"

// Pause is a secondary held at one point of each folder's journal (see
// `ncsync pause`).
type Pause struct {
	ID      string
	Peer    string
	Since   time.Time
	Expires time.Time
	// Hold is the sequence per folder the peer is held at: its tree
	// equals the primary's tree at that sequence.
	Hold        map[string]uint64
	StagedBytes uint64
}
