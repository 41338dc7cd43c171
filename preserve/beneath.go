package preserve

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
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
	dfd, err := openBeneath(rfd, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return Record{}, fmt.Errorf("preserve %q: %w", rel, err)
	}
	if dfd != rfd {
		defer unix.Close(dfd)
	}
	return s.SaveAt(ctx, it, dfd, name)
}

// openBeneath opens the directory rel ("" is root itself, returned as is)
// beneath rfd, with openat2 where the kernel has it, else one component at
// a time with O_NOFOLLOW.
func openBeneath(rfd int, rel string) (int, error) {
	if rel == "" {
		return rfd, nil
	}
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat2(rfd, rel, &unix.OpenHow{Flags: flags,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM) {
		return fd, err
	}
	cur := rfd
	for c := range strings.SplitSeq(rel, "/") {
		next, err := unix.Openat(cur, c, flags, 0)
		if cur != rfd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}
