package apply

import (
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
)

// Limits of what an entry may describe.
const (
	maxName   = 255  // bytes in one path component (NAME_MAX)
	maxPath   = 4095 // bytes in a path or symlink target (PATH_MAX - 1)
	maxChunks = 1 << 24
	// setIDBits are refused, or stripped when Options.StripSetID is set.
	setIDBits = 0o6000
	permBits  = 0o7777
)

// minMtimeNs is the earliest mtime accepted (1900-01-01). The latest is the
// end of int64 nanoseconds (year 2262), before the nominal limit of 2500.
var minMtimeNs = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// ValidatePath reports whether p may be applied beneath a folder root: it
// must be relative, clean (path.Clean(p) == p), not empty or ".", free of
// ".." components, NUL bytes and invalid UTF-8, with components of at most
// 255 bytes, at most 4095 bytes in all, and no component reserved by ncsync.
// The error is a *PathError.
func ValidatePath(p string) error {
	bad := func(reason string) error { return &PathError{Path: p, Reason: reason} }
	switch {
	case p == "":
		return bad("empty")
	case strings.IndexByte(p, 0) >= 0:
		return bad("contains NUL")
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case p[0] == '/':
		return bad("absolute")
	case len(p) > maxPath:
		return bad("longer than 4095 bytes")
	}
	for c := range strings.SplitSeq(p, "/") {
		if c == ".." {
			return bad(`contains ".."`)
		}
	}
	if p == "." {
		return bad("names the folder root")
	}
	if path.Clean(p) != p {
		return bad(`not clean (empty, "." or trailing component)`)
	}
	for c := range strings.SplitSeq(p, "/") {
		if len(c) > maxName {
			return bad("component longer than 255 bytes")
		}
		if ignore.Reserved(c) {
			return bad("uses a name reserved by ncsync")
		}
	}
	return nil
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
	if err := ValidatePath(e.Path); err != nil {
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
		return validateTarget(e.Path, e.Target)
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

// validateTarget refuses symlink targets that are empty, absolute or that
// resolve outside the root. The check is lexical, which is exact only if
// ".." components come first: after a name, which may itself be a symlink
// (to "." say), ".." climbs from wherever that link points, so such
// targets are refused.
func validateTarget(p, target string) error {
	switch {
	case target == "":
		return refused(p, "empty symlink target")
	case len(target) > maxPath:
		return refused(p, "symlink target longer than 4095 bytes")
	case strings.IndexByte(target, 0) >= 0:
		return refused(p, "symlink target contains NUL")
	case target[0] == '/':
		return refused(p, "symlink target %q is absolute", target)
	}
	depth := strings.Count(p, "/") // directories between the root and the link
	up, named := 0, false
	for c := range strings.SplitSeq(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if named {
				return refused(p, "symlink target %q has \"..\" after a name", target)
			}
			if up++; up > depth {
				return refused(p, "symlink target %q escapes the folder root", target)
			}
		default:
			named = true
		}
	}
	return nil
}

// fileMode returns the permission bits to set for e: setuid/setgid are
// stripped (ValidateEntry has refused them unless StripSetID is set).
func fileMode(mode uint32) uint32 {
	return mode & permBits &^ setIDBits
}
