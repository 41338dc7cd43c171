package preserve

import (
	"context"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/internal/fsys"
)

// SaveBeneath preserves the object at rel (a clean, slash-separated path)
// beneath the directory root, like SaveAt: the parent directories are
// resolved without following any symlink and without leaving root, and
// the object itself is not followed either. A path that does not exist
// fails with an error matching fs.ErrNotExist (unix.ENOENT); a parent that
// is a symlink fails with unix.ELOOP or unix.EXDEV.
func (s *Store) SaveBeneath(ctx context.Context, it Item, root, rel string) (Record, error) {
	if err := checkPath(rel); err != nil {
		return Record{}, fmt.Errorf("preserve: %w: %w", ErrBadItem, err)
	}
	rfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return Record{}, fmt.Errorf("preserve %q: open root %q: %w", rel, root, err)
	}
	defer unix.Close(rfd)
	dir, name := path.Split(rel)
	dfd, err := fsys.OpenDirBeneath(rfd, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", rel, err)
	}
	if dfd != rfd {
		defer unix.Close(dfd)
	}
	return s.SaveAt(ctx, it, dfd, name)
}
