package secondary

import (
	"github.com/ncsync/ncsync/index"
)

// Resuming after a crash. A batch is recorded in prefixes (record.go), and
// a session that ends records what was applied before it: what a node
// acknowledged, and what it applied before its session failed, is never
// fetched again. Three things remain when the node itself stops
// abruptly:
//
//   - a large file being written: its kept temp file (apply/partial.go)
//     holds the chunks written so far, verified again when it is
//     continued, so only the rest is fetched;
//   - files renamed into place after the last recorded prefix: until the
//     first batch of a folder after a start has been applied, a file whose
//     size and mtime already are the entry's is planned from itself, each
//     chunk verified as it is read (a chunk that does not match is fetched
//     alone), and apply finds its content unchanged (no conflict);
//   - small files written but not yet committed: their temp files are
//     removed at start and they are fetched again (at most one group, see
//     apply's maxPending).

// resumingFolder reports whether folder has not yet applied a whole batch
// since this node started.
func (s *Secondary) resumingFolder(folder string) bool {
	f := s.folders[folder]
	return f != nil && !f.resumed.Load()
}

// inPlace plans every chunk of e from the file at e.Path if that file
// already has e's size and mtime, and reports whether it did.
func (s *Secondary) inPlace(f *folder, id string, e index.Entry, locs []index.ChunkLoc) bool {
	st, kind, err := f.w.Stat(e.Path)
	if err != nil || kind != index.KindFile || st.Size != e.Size || st.MtimeNs != e.MtimeNs {
		return false
	}
	var off int64
	for i, ref := range e.Chunks {
		locs[i] = index.ChunkLoc{Folder: id, Path: e.Path, Offset: off, Size: ref.Size}
		off += int64(ref.Size)
	}
	return true
}
