package apply

import (
	"errors"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/relpath"
)

// Limits of what an entry may describe.
const (
	maxChunks = 1 << 24
	// setIDBits are refused, or stripped when Options.StripSetID is set.
	setIDBits = 0o6000
	permBits  = 0o7777
)

// minMtimeNs is the earliest mtime accepted (1900-01-01). The latest is the
// end of int64 nanoseconds (year 2262), before the nominal limit of 2500.
var minMtimeNs = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// ValidatePath reports whether p may be applied beneath a folder root: a
// folder-relative path that replication may carry (relpath.CheckReplicated:
// relative, clean, not the root, no "..", NUL or invalid UTF-8, components
// of at most 255 bytes, 4095 bytes in all, no name reserved by ncsync).
// The error is a *PathError.
func ValidatePath(p string) error {
	if err := relpath.CheckReplicated(p); err != nil {
		return &PathError{Path: p, Reason: reasonOf(err)}
	}
	return nil
}

// reasonOf is a relpath error's reason, without the path it names.
func reasonOf(err error) string {
	var re *relpath.Error
	if errors.As(err, &re) {
		return re.Reason
	}
	return err.Error()
}

// ValidateEntry checks e before the disk is touched: its path, a known kind,
// permission bits only (setuid/setgid refused unless opts.StripSetID), an
// mtime from 1900 on, and per kind: for files a size equal to the sum of
// sane chunk sizes and a FileID matching the chunk ids; for symlinks a
// target that is allowed (opts.RefuseSymlinks), relative, and stays beneath
// the root when resolved from the link's directory. A tombstone needs only a
// valid path. The error is a *RefusedError.
func ValidateEntry(e index.Entry, opts Options) error {
	return validateEntry(&e, opts, new(chunker.FileHasher))
}

// validateEntry is ValidateEntry with a FileHasher to reuse (a new one
// allocates about 10 KiB).
func validateEntry(e *index.Entry, opts Options, fh *chunker.FileHasher) error {
	if e.Path == index.RootPath {
		// The root's own metadata: a directory, never removed.
		if e.Deleted || e.Kind != index.KindDir {
			return refused(e.Path, "names the folder root, which only takes a directory's metadata and is never deleted")
		}
	} else if err := ValidatePath(e.Path); err != nil {
		return &RefusedError{Path: e.Path, Err: err}
	}
	if e.Deleted {
		return nil
	}
	switch e.Kind {
	case index.KindFile, index.KindDir, index.KindSymlink:
	default:
		return refused(e.Path, "unknown kind %d (fifos, sockets and devices are not replicated)", e.Kind)
	}
	if e.Mode&^permBits != 0 {
		return refused(e.Path, "mode %#o has bits outside 07777", e.Mode)
	}
	if e.Mode&setIDBits != 0 && !opts.StripSetID {
		return refused(e.Path, "mode %#o has setuid/setgid bits", e.Mode)
	}
	if e.MtimeNs < minMtimeNs {
		return refused(e.Path, "mtime %d is before 1900", e.MtimeNs)
	}
	if e.Size < 0 {
		return refused(e.Path, "negative size %d", e.Size)
	}
	if e.Kind != index.KindFile && len(e.Chunks) > 0 {
		return refused(e.Path, "a %s with %d chunks", e.Kind, len(e.Chunks))
	}
	switch e.Kind {
	case index.KindFile:
		return validateChunks(e, fh)
	case index.KindSymlink:
		if opts.RefuseSymlinks {
			return refused(e.Path, "symlinks are refused in this folder")
		}
		if err := relpath.CheckTarget(e.Path, e.Target); err != nil {
			return refused(e.Path, "%s", reasonOf(err))
		}
	}
	return nil
}

func validateChunks(e *index.Entry, h *chunker.FileHasher) error {
	if len(e.Chunks) > maxChunks {
		return refused(e.Path, "%d chunks, more than %d", len(e.Chunks), maxChunks)
	}
	var sum int64
	h.Reset()
	for i, c := range e.Chunks {
		if c.Size == 0 || c.Size > chunker.MaxLimit {
			return refused(e.Path, "chunk %d has size %d", i, c.Size)
		}
		sum += int64(c.Size)
		h.Add(c.ID)
	}
	if sum != e.Size {
		return refused(e.Path, "size %d is not the sum of its chunk sizes (%d)", e.Size, sum)
	}
	if h.Sum() != e.FileID {
		return refused(e.Path, "file id %s does not match its chunk ids", e.FileID)
	}
	return nil
}

// fileMode returns the permission bits to set for e: setuid/setgid are
// stripped (ValidateEntry has refused them unless StripSetID is set).
func fileMode(mode uint32) uint32 {
	return mode & permBits &^ setIDBits
}
