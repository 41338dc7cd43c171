package index

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ncsync/ncsync/internal/durable"

	"github.com/ncsync/ncsync/internal/relpath"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors callers may branch on. Returned errors wrap them; test with
// errors.Is.
var (
	// ErrLocked means another process holds the index file open.
	ErrLocked = errors.New("locked by another ncsync process")
	// ErrCorrupt means a stored record could not be decoded.
	ErrCorrupt = errors.New("corrupt index record")
	// ErrNotFound means the path has no entry.
	ErrNotFound = errors.New("no such entry")
	// ErrInvalid means an argument breaks the index's rules (empty path,
	// NUL byte, unknown kind, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrBackwards means a durable position was asked to go backwards.
	ErrBackwards = errors.New("position would go backwards")
	// ErrSeqConflict means a sequence number is already journaled for a
	// different path.
	ErrSeqConflict = errors.New("sequence already journaled for another path")
	// ErrTxDone means a Tx was used after its Update or View returned.
	ErrTxDone = errors.New("transaction already finished")
	// ErrReadOnly means a write was attempted in a View.
	ErrReadOnly = errors.New("read-only transaction")
)

// DefaultLockTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultLockTimeout = 2 * time.Second

// defaultMmapSize is reserved address space, not memory: with it, a long
// read transaction (Since, Walk) rarely blocks a writer that grows the file.
const defaultMmapSize = 1 << 30

// formatVersion is the on-disk layout version stored in the meta bucket.
const formatVersion = 1

// Limits on names the index stores as keys.
const (
	MaxPathLen   = 4095 // bytes in an entry path
	MaxFolderLen = 255  // bytes in a folder id
)

// Top-level bucket names. Folder buckets are folderPrefix + folder id.
var (
	bucketMeta   = []byte("meta")
	bucketPeers  = []byte("peers")
	bucketChunks = []byte("chunks")
	keyMeta      = []byte("meta")
	keyFormat    = []byte("format")
	folderPrefix = "folder/"

	bucketEntries = []byte("entries")
	bucketJournal = []byte("journal")
	bucketState   = []byte("state")
	keyState      = []byte("state")
)

// Options tune Open.
type Options struct {
	// Timeout is how long to wait for another process to release the file
	// lock. Zero means DefaultLockTimeout.
	Timeout time.Duration
	// NoSync skips fsync on commit. Only for tests: a crash loses commits.
	NoSync bool
	// MmapSize is the initial address space reserved for the file; zero
	// means 1 GiB. It costs no memory.
	MmapSize int
}

// DB is an open index file. Its methods are safe for concurrent use; write
// transactions are serialized.
type DB struct {
	path string
	bolt *bolt.DB

	mu      sync.Mutex
	waiters map[string]chan struct{} // folder → closed when its head rises
	closed  bool
}

// Open opens or creates the index file at path, taking an exclusive lock on
// it. If another process holds the lock for longer than opts.Timeout, it
// fails with an error wrapping ErrLocked.
func Open(path string, opts Options) (*DB, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	mmap := opts.MmapSize
	if mmap <= 0 {
		mmap = defaultMmapSize
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         timeout,
		NoSync:          opts.NoSync,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: mmap,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("index %q is %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open index %q: %w", path, err)
	}
	err = bdb.Update(func(btx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketPeers, bucketChunks} {
			if _, err := btx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		mb := btx.Bucket(bucketMeta)
		switch v := mb.Get(keyFormat); {
		case v == nil:
			return mb.Put(keyFormat, []byte{formatVersion})
		case !bytes.Equal(v, []byte{formatVersion}):
			return fmt.Errorf("unsupported index format %v (want %d)", v, formatVersion)
		}
		return nil
	})
	if err == nil && !opts.NoSync {
		// bbolt syncs its file but never the directory: a power loss
		// could take the new file's name, and the whole index with it.
		err = durable.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open index %q: %w", path, err)
	}
	return &DB{path: path, bolt: bdb, waiters: make(map[string]chan struct{})}, nil
}

// Close releases the file and its lock. Pending Wait calls return an error.
func (db *DB) Close() error {
	db.mu.Lock()
	if !db.closed {
		db.closed = true
		for f, ch := range db.waiters {
			close(ch)
			delete(db.waiters, f)
		}
	}
	db.mu.Unlock()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close index %q: %w", db.path, err)
	}
	return nil
}

// Path returns the file the DB was opened from.
func (db *DB) Path() string { return db.path }

// Folders returns the ids of all folders with state in the index, sorted.
func (db *DB) Folders() ([]string, error) {
	var out []string
	err := db.bolt.View(func(btx *bolt.Tx) error {
		c := btx.Cursor()
		prefix := []byte(folderPrefix)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list folders in %q: %w", db.path, err)
	}
	return out, nil
}

func folderBucketName(folder string) []byte {
	return []byte(folderPrefix + folder)
}

func validFolder(folder string) error {
	if folder == "" || len(folder) > MaxFolderLen || strings.IndexByte(folder, 0) >= 0 {
		return fmt.Errorf("folder %q: %w", folder, ErrInvalid)
	}
	return nil
}

func validPath(path string) error {
	if err := relpath.Check(path); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
