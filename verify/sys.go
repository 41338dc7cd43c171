package verify

import (
	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// The system-call helpers are shared with the other tree readers
// (internal/fsys); only what is particular to verify stays here.

// entryOf fills an entry's metadata from its stat, the way the scanner
// does: permission bits with setuid, setgid and sticky; size for files
// only.
func entryOf(p string, kind index.Kind, st *unix.Stat_t) Entry {
	e := Entry{Path: p, Kind: kind, Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, MtimeNs: st.Mtim.Nano()}
	if kind == index.KindFile {
		e.Size = st.Size
	}
	return e
}

// settled reports whether a file's stat did not move while it was read.
func settled(before, after *unix.Stat_t) bool {
	return before.Dev == after.Dev && before.Ino == after.Ino && before.Size == after.Size &&
		before.Mtim == after.Mtim && before.Ctim == after.Ctim
}
