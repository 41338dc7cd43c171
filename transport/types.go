package transport

import (
	"context"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
)

// ProtocolVersion is the replication protocol this package speaks. Hello and
// Welcome carry it; a peer speaking another version is refused, naming
// both (nodes are upgraded together). Version 2 made the orders and
// questions that version 1 carried as flags of a batch (apply what was
// staged, a tree hash query, a verify request) and the tree hash answer
// that it carried in an ack messages of their own.
const ProtocolVersion = 2

// Peer is the verified identity of the remote end of a connection, taken
// from its certificate, and its network address.
type Peer struct {
	Node, ClusterID string
	Role            pki.Role
	Addr            string
}

// Hello opens a session: who the secondary says it is and where it stands.
type Hello struct {
	ClusterID, Node string
	Role            pki.Role
	Epoch           uint64            // newest epoch this node has seen
	Positions       map[string]uint64 // folder id → last applied sequence
	Lineage         []index.EpochMark
	// Staged is the last staged sequence of each folder with batches
	// staged past its position; StagedBytes what they take; StageLimit
	// how much the node may stage (0: it does not stage).
	Staged                  map[string]uint64
	StagedBytes, StageLimit uint64
	// Heartbeat is the node's heartbeat interval (heartbeat.go); Client.Sync
	// sets it. 0: it neither sends nor understands heartbeats.
	Heartbeat time.Duration
	// ChunkDeltas: the node takes chunk lists as deltas (Batch.Deltas) and
	// fetches a list it cannot build with Client.FetchChunkList.
	ChunkDeltas bool
}

// Welcome accepts a session.
type Welcome struct {
	ClusterID, Node string
	Epoch           uint64
	Folders         map[string]uint64 // folder id → primary's current sequence
	Lineage         []index.EpochMark
	// Heartbeat is the primary's heartbeat interval, set by the Server
	// when the Hello announced one.
	Heartbeat time.Duration
	// ChunkPatches: the primary answers chunk bases with patches (set by
	// the Server, which does); the Client sends bases only then.
	ChunkPatches bool
}

// Message is what a primary sends on a session after its Welcome, each
// kind with one meaning: a Batch, an ApplyStaged, a TreeHashQuery, a
// VerifyQuery or a PauseState. The secondary handles them in the order sent.
type Message interface{ message() }

// Reply is what a secondary sends on a session after its Hello: an Ack or
// a TreeHashReport.
type Reply interface{ reply() }

func (Batch) message()         {}
func (ApplyStaged) message()   {}
func (TreeHashQuery) message() {}
func (VerifyQuery) message()   {}
func (PauseState) message()    {}
func (Ack) reply()             {}
func (TreeHashReport) reply()  {}

// Batch is consecutive journal entries of one folder, with strictly
// increasing sequences, and the primary's current sequence of the folder.
type Batch struct {
	Folder  string
	Entries []index.Entry
	Head    uint64
	// Stage: the secondary is paused; it stores the entries and their
	// chunks without applying them and acknowledges them as staged.
	// HeldAt is the point the pause holds it at in the folder: it stages
	// only while its applied position is that point.
	Stage  bool
	HeldAt uint64
	// Deltas, in entry order, replace the chunk lists of some of the
	// entries (see index.ChunkDelta). Sending, an entry with a delta goes
	// as the delta if that fits a message, else with its Chunks. Received,
	// an entry with a delta has no Chunks: the receiver builds them from
	// the base it holds, or fetches them (Client.FetchChunkList).
	Deltas []EntryDelta
}

// EntryDelta is the chunk list of Entries[At] of a Batch as a delta.
type EntryDelta struct {
	At    int
	Delta index.ChunkDelta
}

// ApplyStaged says the pause of Folder ended: the secondary applies what
// it staged, in order, acknowledging it as applied, then goes on.
type ApplyStaged struct {
	Folder string
}

// PauseState tells a secondary whether a pause holds it: when the pause is established, when
// it ends and at the start of a session while it holds. With Paused, ID
// names the pause, Since and Expires bound it and Hold is the point per
// folder it holds the secondary at; without, the other fields are empty.
type PauseState struct {
	Paused         bool
	ID             string
	Since, Expires time.Time
	Hold           map[string]uint64
}

// TreeHashQuery is a question (ncsync barrier --verify): once everything
// sent before is applied, the secondary answers with a TreeHashReport for
// ID.
type TreeHashQuery struct {
	Folder string
	ID     uint64
}

// Failure is an entry a secondary could not apply.
type Failure struct {
	Path    string
	Seq     uint64
	Message string
}

// Ack says that a secondary has durably applied every entry of Folder up to
// Seq, skipping Failures.
type Ack struct {
	Folder string
	// Seq is the durable position: every entry up to it is durably
	// applied, or was refused as bad input.
	Seq uint64
	// Processed, if past Seq, is how far the secondary has gone through
	// the entries it received: Seq stays below an entry it skipped because
	// the primary no longer held its chunks until a newer entry for that
	// path is applied. It moves the primary's send window only.
	Processed uint64
	Failures  []Failure
	// Staged: the entries up to Seq are staged, not applied; StagedBytes
	// is what the folder's stage then holds.
	Staged      bool
	StagedBytes uint64
	// ApplyError, if set, says why the secondary could not apply the
	// folder's next batch (a full disk, an I/O error); it retries. Seq is
	// then its durable position, which an older primary takes as an
	// ordinary ack.
	ApplyError string
}

// TreeHashReport answers TreeHashQuery Query: a secondary's tree hash of
// Folder (index.DB.TreeHash) at its applied position Seq, or the Error that
// prevented it.
type TreeHashReport struct {
	Folder  string
	Query   uint64
	Seq     uint64
	Hash    chunker.ID
	Entries uint64
	Error   string
}

// Chunk is one fetched chunk: its verified bytes, or Missing when the
// primary no longer holds it.
type Chunk struct {
	ID      chunker.ID
	Data    []byte
	Missing bool

	patched bool // built from a patch
	refetch bool // a patch that did not build it: fetch it whole
}

// Source is the primary's replication logic, called by Server for each
// verified secondary.
//
// Admit runs before every RPC of every peer. Welcome and Serve run for at
// most one session per peer node at a time: a
// new session from a node ends the previous one (its Serve has returned)
// before Welcome is called. Sessions of different peers, ReadChunk and
// TreeHash run concurrently with anything.
type Source interface {
	// Admit decides whether peer, a verified secondary of this cluster,
	// may call the service at all. It is asked before every RPC, so it
	// must be cheap and safe for concurrent use; what it admits may change
	// while the server runs (a config reload). A *Refusal reaches the peer
	// as it is; any other error as an ErrNotMember refusal.
	Admit(peer Peer) error
	// Welcome decides whether peer may start a session (cluster,
	// epoch). A *Refusal reaches the peer as it is (ErrStaleEpoch makes
	// a secondary look at this primary's lineage); other errors as an
	// internal error.
	Welcome(ctx context.Context, peer Peer, h Hello) (Welcome, error)
	// Serve streams journal batches and the other Messages to the peer
	// with send until ctx ends or an error. send splits a batch into
	// messages within Limits and fails if an entry cannot be sent (an
	// invalid kind, a negative size, more than MaxEntryChunks chunks,
	// sequences not strictly increasing) or a message lacks its folder or
	// id; concurrent calls are serialised.
	// The peer's acks and tree hash reports arrive on replies, which is
	// closed when the peer's side of the stream ends. Serve must return
	// when ctx is done.
	Serve(ctx context.Context, peer Peer, h Hello, send func(Message) error, replies <-chan Reply) error
	// ReadChunk appends the bytes of chunk id of folder to buf, or returns
	// ErrChunkMissing if they are no longer available. The bytes must hash
	// to id (the Source knows whether a file changed; Server does not
	// re-hash them, the Client does).
	ReadChunk(ctx context.Context, folder string, id chunker.ID, buf []byte) ([]byte, error)
	// TreeHash returns the hash over folder's tree, its entry count and
	// sequence.
	TreeHash(ctx context.Context, folder string) (hash chunker.ID, entries, seq uint64, err error)
}

// ChunkHintSource may be implemented by a Source that knows which chunks
// are not worth compressing (those of compressed file formats): the Server
// then sends them raw without trying.
type ChunkHintSource interface {
	// ReadChunkHint is ReadChunk that also reports whether compressing
	// the chunk is worth trying.
	ReadChunkHint(ctx context.Context, folder string, id chunker.ID, buf []byte) (data []byte, compress bool, err error)
}

// ChunkInfoSource may be implemented by a Source that knows, without
// reading, the size of a chunk it is about to serve and whether
// compressing it is worth trying: the Server then lets runs of small
// compressible chunks share one zstd frame.
type ChunkInfoSource interface {
	// ChunkInfo returns the size of chunk id of folder and whether it is
	// worth compressing; ok is false when the Source cannot say cheaply.
	ChunkInfo(folder string, id chunker.ID) (size int, compress, ok bool)
}
