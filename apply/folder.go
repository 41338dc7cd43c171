package apply

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/internal/fsys"
)

// SyncMode says how Apply makes a batch durable.
type SyncMode uint8

// Sync modes. All keep the order that matters: file data is durable before
// the renames, and the renames before Apply returns.
const (
	// SyncAuto, the default, fsyncs files and directories one by one when
	// a group commit is small (a few changed files: low latency, nothing
	// else on the file system waited for) and calls syncfs like SyncFS
	// when it is large (an initial copy, an upgrade's thousands of files),
	// where one syncfs costs a fraction of thousands of fsyncs.
	SyncAuto SyncMode = iota
	// SyncFile fsyncs each temp file, then renames, then fsyncs each touched
	// directory once; the fsyncs of a group run concurrently.
	SyncFile
	// SyncFS calls syncfs on the folder's file system once before the
	// renames and once at the end: cheaper for bulk work (an initial copy,
	// an upgrade), but it also waits for unrelated writes on that file
	// system. Linux ≥ 5.8 reports writeback errors through it.
	SyncFS
)

// Under SyncAuto and SyncFS, syncfs is used only on a file system known to
// honour it (see syncfsHonoured); a folder anywhere else gets SyncFile.

// autoFSObjects is SyncAuto's threshold: a group commit of at least this
// many files, or a batch that touched at least this many directories, is
// made durable with syncfs.
const autoFSObjects = 16

func (m SyncMode) String() string {
	switch m {
	case SyncAuto:
		return "auto"
	case SyncFile:
		return "file"
	case SyncFS:
		return "fs"
	}
	return fmt.Sprintf("syncmode(%d)", uint8(m))
}

// UnmarshalText parses "auto", "file" or "fs".
func (m *SyncMode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "auto":
		*m = SyncAuto
	case "file":
		*m = SyncFile
	case "fs":
		*m = SyncFS
	default:
		return fmt.Errorf("sync mode %q: want \"auto\", \"file\" or \"fs\"", b)
	}
	return nil
}

// Options configure a Folder.
type Options struct {
	Chown          bool // set uid/gid (true when running as root)
	RefuseSymlinks bool // refuse every symlink (Nextcloud data directories)
	StripSetID     bool // strip setuid/setgid bits instead of refusing the entry
	Log            *slog.Logger
	Sync           SyncMode
	Local          LocalKeeper // keeps local changes before they are replaced (local.go); nil: refuse them with ErrLocalChange
}

// Folder applies entries beneath one folder root. Apply is not safe for
// concurrent use; ReadAt and Stat may be called at any time (also from a
// ChunkSource during Apply, or from other goroutines) until Close.
type Folder struct {
	path   string
	root   int // O_DIRECTORY fd of the root, held until Close
	opts   Options
	log    *slog.Logger
	mode   SyncMode       // opts.Sync, or SyncFile where syncfs does not reach the storage
	temps  tempDirs       // private directories for temp objects (temp.go)
	hasher *blake3.Hasher // chunk ids, reused
	sum    [32]byte
	// fileHasher checks file ids, reused.
	fileHasher chunker.FileHasher

	kept            keptFiles     // kept temp files of large files (partial.go)
	checkpointEvery time.Duration // see checkpoint.go; tests shorten it
	groupBytes      int64         // likewise
}

// Open opens the folder root, which must exist and be a directory, not a
// symlink, removes the temp objects a crash left anywhere beneath it
// (except the kept temp files of large files, partial.go) and makes a
// fresh private directory for new ones (temp.go).
func Open(root string, opts Options) (*Folder, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	fd, err := unix.Open(root, dirFlags, 0)
	var st unix.Stat_t
	switch {
	case (errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)) &&
		unix.Lstat(root, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return nil, fmt.Errorf("open folder root %q: is a symlink; configure the real path", root)
	case errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("open folder root %q: not a directory", root)
	case err != nil:
		return nil, fmt.Errorf("open folder root %q: %w", root, err)
	}
	fss, err := probeSync(fd)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("open folder root %q: %w", root, err)
	}
	f := &Folder{path: root, root: fd, opts: opts, log: opts.Log, mode: opts.Sync, hasher: blake3.New()}
	f.kept.init()
	f.checkpointEvery, f.groupBytes = checkpointEvery, maxPendingBytes
	if !fss.syncfs {
		f.mode = SyncFile
	}
	start := time.Now()
	n, err := f.removeTemps()
	if err == nil {
		err = f.openTempDirs()
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("open folder root %q: %w", root, err)
	}
	f.log.Info("opened folder", "root", root, "openat2", fsys.HasOpenat2(),
		"fs", fss.fsType, "sync", f.mode,
		"leftover_temps_removed", n, "kept_temps", f.KeptFiles(), "scan", time.Since(start).Round(time.Millisecond))
	return f, nil
}

// Close releases the root.
func (f *Folder) Close() error {
	if f.root < 0 {
		return nil
	}
	f.closeTempDirs()
	err := unix.Close(f.root)
	f.root = -1
	if err != nil {
		return fmt.Errorf("close folder root %q: %w", f.path, err)
	}
	return nil
}

// checkRoot fails with ErrRootGone if the root was removed, or if its path
// now names another directory (the folder was moved or replaced).
func (f *Folder) checkRoot() error {
	if f.root < 0 {
		return fmt.Errorf("folder %q: closed", f.path)
	}
	var held, now unix.Stat_t
	if err := unix.Fstat(f.root, &held); err != nil {
		return fmt.Errorf("stat folder root %q: %w", f.path, err)
	}
	if held.Nlink == 0 {
		return fmt.Errorf("folder root %q: %w", f.path, ErrRootGone)
	}
	if err := unix.Lstat(f.path, &now); err != nil {
		return fmt.Errorf("folder root %q: %w: %w", f.path, ErrRootGone, err)
	}
	if now.Dev != held.Dev || now.Ino != held.Ino {
		return fmt.Errorf("folder root %q: %w", f.path, ErrRootGone)
	}
	return nil
}
