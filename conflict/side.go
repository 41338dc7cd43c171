package conflict

import (
	"bytes"
	"cmp"
	"fmt"
)

// Kind is what a path holds in one version. The zero Kind is Absent.
type Kind uint8

// Kinds of versions. Absent covers a deletion (tombstone) and a path that
// never existed; it has no content.
const (
	Absent Kind = iota
	File
	Dir
	Symlink
)

// String returns "absent", "file", "dir" or "symlink".
func (k Kind) String() string {
	switch k {
	case Absent:
		return "absent"
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// hasContent reports whether a version of this kind is worth preserving
// when it loses: files and symlinks are; a deletion has nothing to keep and
// a directory's content is its children, which are entries of their own.
func (k Kind) hasContent() bool { return k == File || k == Symlink }

// State is what one version puts at a path: everything that makes two
// versions the same object, the fields index.SameContent compares. Two
// versions with equal States need nothing preserved even when their
// histories differ.
type State struct {
	Kind    Kind
	Content [32]byte // files: the file id (hash over the chunk ids)
	Target  string   // symlinks: the link target
	Size    int64
	Mode    uint32
	UID     uint32
	GID     uint32
	MtimeNs int64
}

// Same reports whether s and o are the same version of the path. All Absent
// states are the same whatever their other fields; otherwise every field
// counts, so a metadata-only change (mode, owner, mtime) is a difference and
// its loser is preserved like any other.
func (s State) Same(o State) bool {
	if s.Kind == Absent || o.Kind == Absent {
		return s.Kind == o.Kind
	}
	return s == o
}

// cmpState is a total order on states consistent with Same; only the
// tie-break of Resolve uses it.
func cmpState(a, b State) int {
	if a.Same(b) {
		return 0
	}
	return cmp.Or(
		cmp.Compare(a.Kind, b.Kind),
		bytes.Compare(a.Content[:], b.Content[:]),
		cmp.Compare(a.Target, b.Target),
		cmp.Compare(a.Size, b.Size),
		cmp.Compare(a.Mode, b.Mode),
		cmp.Compare(a.UID, b.UID),
		cmp.Compare(a.GID, b.GID),
		cmp.Compare(a.MtimeNs, b.MtimeNs),
	)
}

// Side is one node's version of a path, with the node's standing in the
// cluster: the side that stands higher wins (see [Resolve]).
type Side struct {
	Node    string // the node that holds this version
	Epoch   uint64 // the newest epoch that node has joined (index meta Epoch)
	Primary bool   // the node is the primary of Epoch
	Vector  Vector // the version's history; see VectorOf
	State   State
}
