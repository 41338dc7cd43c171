package apply

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/internal/fsys"
)

// Temp objects. Every file, symlink and directory this package creates is
// built under a temp name in a private directory (tempDirName at the folder
// root: mode 0700, owned by the daemon's user), where no local user can
// reach the name: owner, mode and times are set there, then renameat moves
// the object into place. A local user who can write the target directory
// therefore never gets to swap the object for a link to another file
// between its creation and its chown. A folder with a file system mounted
// beneath its root gets a private directory on that mount too (in the
// first directory written there), since rename cannot cross mounts.

// tempDirName names the private directory. It is a reserved name, so the
// scanner and watcher skip it on both sides and no peer can send it, and it
// never matches Nextcloud's *.config.php.
const tempDirName = ignore.ReservedPrefix + "tmp"

// tempPrefix starts the name of every temp object inside the private
// directory, and of the temp files older versions left next to their
// targets (removed when a folder is opened).
const tempPrefix = ignore.ReservedPrefix + "tmp-"

// isTemp reports whether name is one of ncsync's own temp objects or the
// private directory.
func isTemp(name string) bool {
	return name == tempDirName || strings.HasPrefix(name, tempPrefix)
}

// tempName returns a fresh temp name; collisions are caught by O_EXCL.
func tempName() string {
	return tempPrefix + strconv.FormatUint(rand.Uint64(), 36)
}

// tempDirs holds the private directory of each mount the folder writes to.
type tempDirs struct {
	mu    sync.Mutex
	mount uint64         // the root's mount
	fds   map[uint64]int // private directory by mount
}

// mountOf identifies the mount of the directory fd: its mount id where the
// kernel reports one (Linux ≥ 5.8: a bind mount of the same file system
// counts too), else its device.
func mountOf(fd int) (uint64, error) {
	var stx unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID, &stx)
	if err == nil && stx.Mask&unix.STATX_MNT_ID != 0 {
		return stx.Mnt_id | 1<<63, nil
	}
	var st unix.Stat_t
	if err := fsys.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Dev, nil
}

// openTempDirs opens the private directory at the root, after the
// leftover sweep emptied it, or makes it.
func (f *Folder) openTempDirs() error {
	m, err := mountOf(f.root)
	if err != nil {
		return fmt.Errorf("stat root: %w", err)
	}
	f.temps = tempDirs{mount: m, fds: make(map[uint64]int)}
	var st unix.Stat_t
	if err := fsys.Fstat(f.root, &st); err != nil {
		return fmt.Errorf("stat root: %w", err)
	}
	fd, err := makeTempDir(f.root)
	if err != nil {
		// Not ours (another user made it, or it is not a directory):
		// replace it.
		if rerr := removeAll(f.root, tempDirName); rerr != nil {
			return fmt.Errorf("%w; removing it: %w", err, rerr)
		}
		if fd, err = makeTempDir(f.root); err != nil {
			return err
		}
	}
	var now unix.Stat_t
	if fsys.Fstat(f.root, &now) == nil && now.Mtim != st.Mtim {
		// Made just now: the root keeps the mtime it had (the primary's).
		if err := futimens(f.root, st.Mtim.Nano()); err != nil {
			f.log.Warn("could not restore the root's mtime", "root", fmt.Sprintf("%q", f.path), "err", err)
		}
	}
	f.temps.fds[m] = fd
	return nil
}

// makeTempDir creates the private directory in dirfd, or takes the one
// there if it is already the daemon's own (mode 0700, its owner), and
// returns its fd.
func makeTempDir(dirfd int) (int, error) {
	err := unix.Mkdirat(dirfd, tempDirName, 0o700)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create private directory %s: %w", tempDirName, err)
	}
	fd, err := fsys.OpenDir(dirfd, tempDirName)
	if err != nil {
		return -1, fmt.Errorf("open private directory %s: %w", tempDirName, err)
	}
	var st unix.Stat_t
	if err := fsys.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("stat private directory %s: %w", tempDirName, err)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o777 != 0o700 {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("private directory %s: owned by uid %d with mode %#o, want uid %d and 0700: "+
			"something else created it; remove it", tempDirName, st.Uid, st.Mode&0o777, os.Geteuid())
	}
	return fd, nil
}

// tempDir returns the private directory on dirfd's mount, creating it in
// dirfd for a mount other than the root's. fresh drops the one known for
// that mount first: it was removed (ENOENT inside it).
func (f *Folder) tempDir(dirfd int, fresh bool) (int, error) {
	m, err := mountOf(dirfd)
	if err != nil {
		return -1, err
	}
	f.temps.mu.Lock()
	defer f.temps.mu.Unlock()
	fd, ok := f.temps.fds[m]
	if ok && !fresh {
		return fd, nil
	}
	if ok {
		_ = unix.Close(fd)
		delete(f.temps.fds, m)
	}
	at := dirfd
	if m == f.temps.mount {
		at = f.root
	}
	if fd, err = makeTempDir(at); err != nil {
		return -1, err
	}
	f.temps.fds[m] = fd
	return fd, nil
}

// closeTempDirs releases the private directories.
func (f *Folder) closeTempDirs() {
	f.temps.mu.Lock()
	defer f.temps.mu.Unlock()
	for m, fd := range f.temps.fds {
		_ = unix.Close(fd)
		delete(f.temps.fds, m)
	}
}

// newTemp creates a temp object with create (called with the private
// directory's fd and a fresh name; it must fail with EEXIST if the name is
// taken) in the private directory that can be renamed into dirfd. It is the
// one place where temp objects are made; any goroutine may call it.
func (f *Folder) newTemp(dirfd int, create func(tmpdir int, name string) error) (tmpdir int, name string, err error) {
	return f.newTempNamed(dirfd, "", create)
}

// newTempNamed is newTemp with the given name rather than fresh ones
// (a kept temp file, partial.go), unless it is "": create is called with
// that name only, and its EEXIST returned.
func (f *Folder) newTempNamed(dirfd int, fixed string, create func(tmpdir int, name string) error) (tmpdir int, name string, err error) {
	for attempt := 0; ; attempt++ {
		if tmpdir, err = f.tempDir(dirfd, attempt > 0); err != nil {
			return -1, "", err
		}
		for range tempAttempts {
			if name = fixed; name == "" {
				name = tempName()
			}
			if err = create(tmpdir, name); !errors.Is(err, unix.EEXIST) || fixed != "" {
				break
			}
		}
		// ENOENT: the private directory was removed (a local rmdir, or
		// a replicated delete of the directory holding it): make it again.
		if !errors.Is(err, unix.ENOENT) || attempt > 0 {
			return tmpdir, name, err
		}
	}
}

// createTempFile creates an empty temp file (0600, open for writing) that
// can be renamed into dirfd.
func (f *Folder) createTempFile(dirfd int) (tmpdir int, name string, fd int, err error) {
	tmpdir, name, err = f.newTemp(dirfd, func(tmpdir int, name string) error {
		var err error
		fd, err = unix.Openat(tmpdir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		return -1, "", -1, err
	}
	return tmpdir, name, fd, nil
}

// makeDir creates the directory name in dirfd (mode 0700: its entry or
// DirMeta sets the rest through the returned fd) by building it in the
// private directory and renaming it into place without replacing
// anything. It fails with EEXIST if name exists.
func (f *Folder) makeDir(dirfd int, name string) (int, error) {
	var fd int
	tmpdir, tmp, err := f.newTemp(dirfd, func(tmpdir int, name string) error {
		if err := unix.Mkdirat(tmpdir, name, 0o700); err != nil {
			return err
		}
		var err error
		if fd, err = fsys.OpenDir(tmpdir, name); err != nil {
			_ = unix.Unlinkat(tmpdir, name, unix.AT_REMOVEDIR)
		}
		return err
	})
	if err != nil {
		return -1, err
	}
	err = unix.Renameat2(tmpdir, tmp, dirfd, name, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) {
		// No RENAME_NOREPLACE on this file system: a plain rename would
		// replace an empty directory there, so check first. Only a
		// directory can be replaced, and only by this package.
		if _, err = lstatAt(dirfd, name); err == nil {
			err = unix.EEXIST
		} else if errors.Is(err, unix.ENOENT) {
			err = unix.Renameat(tmpdir, tmp, dirfd, name)
		}
	}
	if err != nil {
		_ = unix.Unlinkat(tmpdir, tmp, unix.AT_REMOVEDIR)
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
