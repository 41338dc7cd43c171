// Package preserve keeps the versions of paths that ncsync had to replace
// or remove: a file someone edited on a secondary before the primary's
// update arrived, a local file inside a directory the primary deleted, an
// old primary's unreplicated change when it rejoins as a secondary. The
// kept versions live under the state directory (state_dir/conflicts), never
// inside a replicated tree, where Nextcloud would pick them up.
//
// Each version is one record directory, <dir>/<id>/, holding meta.json and,
// for a file, data (a byte copy, with its BLAKE3-256 in the metadata). A
// record is built in a hidden temp directory, fsynced and renamed into place
// with its metadata, so a crash leaves either a whole record or a temp
// directory that [Store.Sweep] removes; records are never changed after that.
// Readers (`ncsync conflicts` in another process) need no lock.
package preserve

import "errors"

// Errors callers branch on (errors.Is).
var (
	// ErrNotFound: no record has the ID.
	ErrNotFound = errors.New("no preserved version with this id")
	// ErrExists: Restore's destination already exists; nothing was written.
	ErrExists = errors.New("destination exists")
	// ErrUnsupported: the object is not a file, directory or symlink.
	ErrUnsupported = errors.New("only files, directories and symlinks can be preserved")
	// ErrUnstable: the file kept changing while it was copied.
	ErrUnstable = errors.New("file changed while it was being preserved")
	// ErrCorrupt: a record's metadata or data does not check out.
	ErrCorrupt = errors.New("corrupt preserved record")
	// ErrBadItem: the Item to save is invalid (a caller bug).
	ErrBadItem = errors.New("invalid item")
)
