package preserve

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Place is where one folder keeps its preserved versions.
type Place struct {
	// Dir is the store's directory.
	Dir string
	// Root is the folder root when the store is the folder's own
	// (Dir is Root/FolderStoreName, opened with OpenInFolder); "" else.
	Root string
}

// PlaceFor chooses the store of the folder at root: configured if set;
// else shared (the store under the state directory) when it is on the
// folder's file system, so that local files are kept by a hard link; else
// the folder's own store at its root (FolderStoreName), for the same
// reason. shared need not exist yet: its nearest existing ancestor tells
// the file system.
func PlaceFor(shared, root, configured string) (Place, error) {
	if configured != "" {
		return Place{Dir: configured}, nil
	}
	var rs, ss unix.Stat_t
	if err := unix.Stat(root, &rs); err != nil {
		return Place{}, fmt.Errorf("conflict store of folder %q: %w", root, err)
	}
	for d := shared; ; d = filepath.Dir(d) {
		err := unix.Stat(d, &ss)
		if err == nil {
			break
		}
		if d == filepath.Dir(d) {
			return Place{}, fmt.Errorf("conflict store %q: %w", shared, err)
		}
	}
	if ss.Dev == rs.Dev {
		return Place{Dir: shared}, nil
	}
	return Place{Dir: filepath.Join(root, FolderStoreName), Root: root}, nil
}

// Open opens the store at p, creating it if it is missing.
func (p Place) Open(lim Limits) (*Store, error) {
	if p.Root != "" {
		return OpenInFolder(p.Root, lim)
	}
	return Open(p.Dir, lim)
}
