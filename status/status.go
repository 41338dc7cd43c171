// Package status holds the report a daemon gives about itself: its folders,
// its peers and their progress. The primary and secondary loops fill it in;
// the control socket carries it to `ncsync status`.
package status

import "time"

// Node is one daemon's report.
type Node struct {
	Node      string
	Role      string // "primary" or "secondary"
	ClusterID string
	Epoch     uint64
	Started   time.Time
	Folders   []Folder
	Peers     []Peer
	Pauses    []Pause
	Barriers  []Barrier // primary: barriers in progress
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
	// Secondary: local changes (edits, new files made on this node) kept in
	// the conflict store before the primary's changes replaced them.
	LocalChanges uint64
	// Secondary: entries the primary sent for paths that match this
	// node's ignore patterns (node-local paths), refused since start.
	IgnoredHere uint64
}

// Peer is a replication peer as this node sees it: a secondary on the
// primary, the primary on a secondary.
type Peer struct {
	Node           string
	Role           string
	Connected      bool
	Address        string
	ConnectedSince time.Time
	LastSeen       time.Time
	Folders        []PeerFolder
	LastError      string
	BytesSent      uint64
	BytesReceived  uint64
}

// PeerFolder is a peer's position in one folder.
type PeerFolder struct {
	Folder     string
	AckedSeq   uint64
	LagEntries uint64
	LagBytes   uint64
	LagAtLeast bool          // LagEntries and LagBytes are lower bounds (a peer far behind)
	Lag        time.Duration // age of the oldest unacknowledged change
}
