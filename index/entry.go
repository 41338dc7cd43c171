// Package index is ncsync's embedded, crash-safe store: per folder, the
// entries of the tree with a monotonic journal sequence, the epoch history,
// per-peer progress and a chunk-id → location map. It lives in one bbolt
// file under the state directory.
package index

import (
	"fmt"
	"log/slog"

	"github.com/ncsync/ncsync/chunker"
)

// Kind is the type of file system object an entry describes.
type Kind uint8

// Kinds of entries. Special files (fifos, sockets, devices) are never
// indexed.
const (
	KindFile Kind = iota + 1
	KindDir
	KindSymlink
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ChunkRef names one chunk of a file, in file order.
type ChunkRef struct {
	ID   chunker.ID
	Size uint32
}

// Version says which primary term and sequence produced an entry.
type Version struct {
	Epoch uint64
	Seq   uint64
	Node  string
}

// Stat is how this node last saw a path on its own disk. It is never
// replicated: a primary compares it to decide whether to re-read a file, a
// secondary to notice that something other than ncsync changed a path.
type Stat struct {
	Dev     uint64
	Ino     uint64
	Size    int64
	MtimeNs int64
	CtimeNs int64
}

// RootPath is the path of the folder root's own entry, a directory that
// carries only the root's replicated metadata (mode, owner, mtime). It is
// never deleted, and Stats do not count it.
const RootPath = "."

// Entry is the state of one path at one sequence number.
type Entry struct {
	Path    string // slash separated, relative to the folder root, clean
	Seq     uint64 // journal sequence that last changed this path
	Kind    Kind
	Mode    uint32 // unix permission bits with setuid, setgid, sticky (07777)
	UID     uint32
	GID     uint32
	MtimeNs int64
	Size    int64
	Target  string     // symlink target
	FileID  chunker.ID // files: chunker.FileID over the chunk ids
	Chunks  []ChunkRef // files: in file order
	Deleted bool       // a tombstone; Kind is what was deleted
	Version Version
	Stat    Stat // local only
}

// LogValue keeps log lines short: path, kind, sequence and size.
func (e Entry) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("path", e.Path),
		slog.String("kind", e.Kind.String()),
		slog.Uint64("seq", e.Seq),
	}
	if e.Deleted {
		attrs = append(attrs, slog.Bool("deleted", true))
	} else if e.Kind == KindFile {
		attrs = append(attrs, slog.Int64("size", e.Size))
	}
	return slog.GroupValue(attrs...)
}

// SameContent reports whether a and b describe the same object with the same
// replicated metadata; sequence, version and local stat are ignored.
func SameContent(a, b Entry) bool {
	if a.Kind != b.Kind || a.Deleted != b.Deleted {
		return false
	}
	if a.Deleted {
		return true
	}
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID &&
		a.MtimeNs == b.MtimeNs && a.Size == b.Size && a.Target == b.Target &&
		a.FileID == b.FileID
}
