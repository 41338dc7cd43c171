// Package apply is the confined writer of a secondary: it applies replicated
// entries beneath a folder root without ever following a symlink or leaving
// the root, builds files, symlinks and directories in a private directory
// (temp.go) and renames them into place (files verified and fsynced first),
// and restores the primary's modes, owners and mtimes exactly, through fds
// opened in that private directory (Nextcloud detects outside changes by
// mtime).
//
// It is Linux only: every operation is relative to a directory fd resolved
// with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS), or
// by a component-by-component walk with O_NOFOLLOW|O_DIRECTORY where openat2
// is missing, and metadata is set through fds, never by path.
package apply

import (
	"errors"
	"fmt"
)

// Errors a caller branches on. Bad input is a *RefusedError (test with
// errors.As); the sentinels below are wrapped by the errors they name.
var (
	// ErrRefused is matched (errors.Is) by every *RefusedError and
	// *PathError: bad input, refused before the path was changed. Applying
	// the same entry again fails the same way.
	ErrRefused = errors.New("refused")
	// ErrDataMismatch is wrapped by the *RefusedError of a file whose chunk
	// bytes do not match the announced sizes or ids.
	ErrDataMismatch = errors.New("data does not match the announced chunk")
	// ErrLocalChange means the object at the path is not what ncsync last
	// wrote there (Known.LastWritten): something other than ncsync changed it, so
	// it was left alone for the conflict path.
	ErrLocalChange = errors.New("changed locally since ncsync last wrote it")
	// ErrRootGone means the folder root was removed or replaced: the whole
	// folder is unusable until it is opened again.
	ErrRootGone = errors.New("folder root is gone or was replaced")
)

// PathError is a path refused by ValidatePath.
type PathError struct {
	Path   string
	Reason string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("refused path %q: %s", e.Path, e.Reason)
}

// Is makes a *PathError match ErrRefused.
func (e *PathError) Is(target error) bool { return target == ErrRefused }

// RefusedError is an entry refused as bad input: a bad path (Err is then the
// *PathError), bad metadata, a symlink target that escapes, a parent on disk
// that is a symlink or not a directory, or chunk data that does not match
// (Err is then ErrDataMismatch). Nothing at the entry's path was changed.
type RefusedError struct {
	Path   string
	Reason string
	Err    error // optional cause
}

func (e *RefusedError) Error() string {
	var pe *PathError
	if errors.As(e.Err, &pe) && e.Reason == "" {
		return pe.Error()
	}
	if e.Err != nil {
		return fmt.Sprintf("refused entry %q: %s: %v", e.Path, e.Reason, e.Err)
	}
	return fmt.Sprintf("refused entry %q: %s", e.Path, e.Reason)
}

// Unwrap returns the cause.
func (e *RefusedError) Unwrap() error { return e.Err }

// Is makes a *RefusedError match ErrRefused.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func refused(p, format string, args ...any) *RefusedError {
	return &RefusedError{Path: p, Reason: fmt.Sprintf(format, args...)}
}
