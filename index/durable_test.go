package index

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/internal/lazyfs"
)

// TestCommitSurvivesPowerLoss opens a new index on a file system that keeps
// what was not made durable in memory, commits, and cuts the power: the
// commit is there after the cut. bbolt fdatasyncs its file but never the
// directory, so the new file's name was lost, and the index with it.
func TestCommitSurvivesPowerLoss(t *testing.T) {
	if err := lazyfs.Available(); err != nil {
		t.Skipf("lazyfs: %v", err)
	}
	backing, mnt := t.TempDir(), t.TempDir()
	// Served from a child process: bbolt maps the file (see lazyfs.Child).
	fs, err := lazyfs.StartChild(backing, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fs.Unmount() })
	db, err := Open(filepath.Join(mnt, "index.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	journal(t, db, "f", file("a", 1), file("b", 2))
	if err := db.SetPeerAck("s1", "f", 2); err != nil {
		t.Fatal(err)
	}
	if s, err := fs.Stats(); err != nil || s.Fdatasync == 0 {
		t.Errorf("no fdatasync reached the file system: %+v", s)
	}
	if err := fs.Cut(); err != nil {
		t.Fatal(err)
	}
	_ = db.Close() // its file is gone with the mount

	db, err = Open(filepath.Join(backing, "index.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if head, err := db.Head("f"); err != nil || head != 2 {
		t.Errorf("head after the cut: %d, %v; want 2", head, err)
	}
	if acks, err := db.PeerAcks("s1"); err != nil || acks["f"] != 2 {
		t.Errorf("peer acks after the cut: %v, %v; want f=2", acks, err)
	}
}

func TestMain(m *testing.M) {
	lazyfs.ServeChildIfAsked()
	os.Exit(m.Run())
}
