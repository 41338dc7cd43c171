// Package report holds the report a daemon gives about itself: its folders,
// its peers and their progress. The primary and secondary loops fill it in;
// the control socket carries it to `ncsync status`.
package report

import (
	"time"

	"github.com/ncsync/ncsync/pki"
)

// Node is one daemon's report.
type Node struct {
	Node      string
	Role      pki.Role // primary or secondary
	ClusterID string
	Epoch     uint64
	Started   time.Time
	Folders   []Folder
	Peers     []Peer
	Pauses    []Pause
	Barriers  []Barrier // primary: barriers in progress
	// Paused: a secondary held still for a snapshot (its tree is an
	// earlier, consistent state of the primary's), as its primary told it
	// in the current session; Pauses then holds that pause. Without a
	// session a secondary does not know, and is not Paused.
	Paused bool
	// Secondary: bytes staged while paused, applied when the pause ends.
	StagedBytes uint64 `json:",omitzero"`
	// Secondary: the conflict stores its folders keep local versions in
	// (one may serve several folders).
	ConflictStores []ConflictStore `json:",omitempty"`
}

// ConflictStore is what one conflict store holds and may hold.
type ConflictStore struct {
	Dir      string
	Folders  []string // the folders that keep their local versions in it
	Records  uint64
	Bytes    uint64 // allocated on disk by the records
	MaxBytes uint64
	MaxFiles uint64
}

// Folder is one replicated folder on this node.
type Folder struct {
	ID          string
	Path        string
	Seq         uint64 // primary: journal head; secondary: applied position
	Files       uint64
	Dirs        uint64
	Bytes       uint64
	Scans       uint64
	LastScan    time.Time
	FilesHashed uint64
	LastError   string
	// Primary only: change detection.
	Watched       uint64 // directories watched with inotify
	Overflows     uint64 // times events were lost and the folder rescanned
	Degraded      string // why some or all of the folder is rescanned instead of watched
	AuditFindings uint64 // changes found by audit scans, which the watcher did not report
	// ScanError is set while paths whose scan failed wait for a retry:
	// until it clears, the journal may lack their changes, and barrier,
	// pause, snapshot and verify fail.
	ScanError *ScanError `json:",omitempty"`
	// Secondary: local changes (edits, new files made on this node) kept in
	// the conflict store before the primary's changes replaced them.
	LocalChanges uint64
	// Secondary: entries the primary sent for paths that match this
	// node's ignore patterns (node-local paths), refused since start.
	IgnoredHere uint64
	// Secondary: local changes put back to the primary's version since
	// start (a path deleted, edited, chmod'ed or replaced on this node, an
	// object made here where the primary has nothing).
	Repairs uint64
	// Secondary: the entry the folder waits at because its conflict store
	// has no room for the local version it replaces; nil when none.
	ConflictStoreFull *ConflictStoreFull `json:",omitempty"`
	// Primary: files not sent for now (their previous version stays on the
	// secondaries): locked by a writer for longer than max_latency, or
	// empty and held (hold_empty). Held lists the oldest few; HeldTotal
	// counts them all.
	Held      []Held
	HeldTotal uint64
	// Secondary, counted since start: entries applied (and the bytes of
	// the files among them), entries refused as bad input or as matching
	// this node's ignore patterns, and the chunk bytes of the applied
	// files taken from files already on this node instead of fetched.
	EntriesApplied    uint64 `json:",omitzero"`
	BytesApplied      uint64 `json:",omitzero"`
	EntriesRefused    uint64 `json:",omitzero"`
	ChunkBytesReused  uint64 `json:",omitzero"`
	ChunkBytesFetched uint64 `json:",omitzero"`
	// Secondary, counted since start: whole chunk lists fetched because a
	// list sent as a delta named a base this node did not hold.
	ChunkListsFetched uint64 `json:",omitzero"`
	// Secondary, counted since start: fetched chunks built from a patch
	// against this node's previous version of the file, and patches that
	// did not build their chunk (fetched whole instead).
	ChunksPatched       uint64 `json:",omitzero"`
	ChunkPatchesRefused uint64 `json:",omitzero"`
}

// ScanError is a primary folder's scan failure state: a failed scan (the
// index could not be written, a file or directory could not be read)
// leaves its paths pending, and they are retried with backoff, at least
// every scan_interval.
type ScanError struct {
	Error     string    // the last failure
	Since     time.Time // when the oldest path still failing first failed
	Pending   uint64    // paths waiting for a retry ("" — the whole folder — counts as one)
	Retries   uint64    // retries made since Since
	NextRetry time.Time
}

// ConflictStoreFull is a folder held back at one entry: keeping the local
// version the entry replaces would take the conflict store past its
// limits (conflicts.max_bytes, conflicts.max_files). The entry and those
// after it wait, and are applied once there is room.
type ConflictStoreFull struct {
	Path      string // the entry that waits
	Seq       uint64
	KeptPath  string // the local version not kept: Path, or beneath it
	Store     string // the store's directory
	UsedBytes int64
	MaxBytes  int64
	NeedBytes int64
	UsedFiles int
	MaxFiles  int
	Message   string // in words, with what to do
}

// Held is a file the primary does not send for now.
type Held struct {
	Path   string
	Reason string    // "being written" or "empty, held"
	Since  time.Time // since when
	Until  time.Time // an empty file held: when the hold ends
}

// Peer is a replication peer as this node sees it: a secondary on the
// primary, the primary on a secondary.
type Peer struct {
	// Node is the peer's node name, as its certificate names it. A
	// secondary reports the primary it follows: the one of its session,
	// or, while none runs, the one it will accept next.
	Node      string
	Role      pki.Role
	Connected bool
	// Address: on a secondary, where it reaches the primary (the config's
	// primary); on the primary, where the secondary connected from.
	Address        string
	ConnectedSince time.Time
	// DisconnectedSince: when the last session ended, while none runs
	// (zero when none has run since start).
	DisconnectedSince time.Time `json:",omitzero"`
	LastSeen          time.Time
	// Secondary: the epoch of the primary's term, as it announced it at
	// the start of the last session (0 before the first).
	Epoch     uint64 `json:",omitzero"`
	Folders   []PeerFolder
	LastError string
	// Primary: a pause holds the peer (Node.Pauses says which).
	Paused        bool `json:",omitzero"`
	BytesSent     uint64
	BytesReceived uint64
	// Primary: the chunk data sent to the peer before compression
	// (BytesSent is its size on the wire).
	ChunkBytesRaw uint64 `json:",omitzero"`
}

// PeerFolder is a peer's position in one folder.
type PeerFolder struct {
	Folder     string
	AckedSeq   uint64
	LagEntries uint64
	LagBytes   uint64
	LagAtLeast bool          // LagEntries and LagBytes are lower bounds (a peer far behind)
	Lag        time.Duration // age of the oldest unacknowledged change
	// ApplyError is why the peer cannot apply this folder's changes, as it
	// last reported (a full disk, an I/O error); empty once it applies
	// again.
	ApplyError string `json:",omitempty"`
	// Secondary: CatchingUp is true from start until the folder holds
	// everything the primary had when the session began (CatchUpTo; 0
	// while no session has begun).
	CatchingUp bool
	CatchUpTo  uint64
	// Primary, counted since start: entries sent to the peer (and the
	// bytes of the files among them), and entries the peer reported it
	// refused.
	EntriesSent    uint64 `json:",omitzero"`
	BytesSent      uint64 `json:",omitzero"`
	EntriesRefused uint64 `json:",omitzero"`
	// Primary, counted since start: entries whose chunk list went to the
	// peer as a delta.
	ChunkListDeltas uint64 `json:",omitzero"`
}
