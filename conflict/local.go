package conflict

import "fmt"

// Fingerprint is how a path looked on this node's disk (lstat; index.Stat
// without Dev). A secondary records it right after its own last change to
// the path (after the rename and the metadata calls, which move ctime) and
// compares it with a fresh lstat before it changes the path again. The
// device number is left out: it may change across a reboot or remount
// without anyone touching the file, and a changed file that keeps its inode
// also changes ctime.
type Fingerprint struct {
	Kind    Kind // Absent: nothing at the path
	Ino     uint64
	Size    int64
	MtimeNs int64
	CtimeNs int64
}

// Same reports whether f and o describe the same object unchanged. Two
// Absent fingerprints are the same whatever their other fields.
func (f Fingerprint) Same(o Fingerprint) bool {
	if f.Kind == Absent || o.Kind == Absent {
		return f.Kind == o.Kind
	}
	return f == o
}

// Action is what a secondary does with an incoming change, from
// [BeforeApply].
type Action uint8

// The actions.
const (
	ActionNone              Action = iota // the path is already absent and the change deletes it
	ActionApply                           // apply the change; nothing local to keep
	ActionPreserveThenApply               // keep the local version as a conflict, then apply
)

// String names the action as in logs: "nothing", "apply", "preserve-then-apply".
func (a Action) String() string {
	switch a {
	case ActionNone:
		return "nothing"
	case ActionApply:
		return "apply"
	case ActionPreserveThenApply:
		return "preserve-then-apply"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// BeforeApply decides what a secondary does before it overwrites or
// deletes a path, given what ncsync last wrote there (written; Absent if it
// never wrote the path or last deleted it), what is there now (current),
// and the kind the incoming change leaves at the path (Absent for a
// deletion):
//
//   - nothing there now: ActionNone for a deletion, else ActionApply (a
//     local deletion has no content to keep);
//   - there and unchanged since ncsync wrote it: ActionApply;
//   - changed (or created, or replaced by another object) and a file or
//     symlink: ActionPreserveThenApply, even if the local edit happens to
//     equal the incoming version (fingerprints cannot tell, and a spare
//     copy is cheaper than a lost one);
//   - changed and a directory: ActionApply. A directory has no content of
//     its own; before removing or replacing it the caller must run
//     BeforeApply for each entry inside (anything ncsync did not write there
//     has written == Absent and is preserved).
func BeforeApply(written, current Fingerprint, incoming Kind) Action {
	switch {
	case current.Kind == Absent && incoming == Absent:
		return ActionNone
	case current.Kind == Absent, written.Same(current), !current.Kind.hasContent():
		return ActionApply
	}
	return ActionPreserveThenApply
}
