package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInitialReplication replicates a tree of 5,000 small files in nested
// directories, three 64 MiB random files, symlinks, empty files and
// directories, odd names, several modes and owners to an empty secondary:
// afterwards the trees are equal in content, type, mode, owner, mtime (ns)
// of files, directories and symlinks, and symlink targets; the ignored file
// is not replicated.
func TestInitialReplication(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 5000, 1)
	for i := range 3 {
		writeRandomFile(t, filepath.Join(root, fmt.Sprintf("big/%d/random-%d.bin", i, i)), 64*miB, uint64(100+i), 0o644)
	}
	oddTree(t, root)
	setTimes(t, root)

	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")

	// compareTrees covered all of it; spell out the cases the issue names.
	sec := c.tree("nfs2", "data")
	checks := []struct {
		rel  string
		kind uint32
		perm uint32
	}{
		{"odd/new\nline.txt", unix.S_IFREG, 0o644},
		{"odd/" + strings.Repeat("L", 196) + ".txt", unix.S_IFREG, 0o644},
		{"odd/-leading-dash", unix.S_IFREG, 0o644},
		{"odd/#hash#", unix.S_IFREG, 0o644},
		{"odd/ünïcödé-日本語-файл.txt", unix.S_IFREG, 0o644},
		{"modes/r-0640.txt", unix.S_IFREG, 0o640},
		{"modes/x-0755.sh", unix.S_IFREG, 0o755},
		{"modes/secret-0600.key", unix.S_IFREG, 0o600},
		{"modes/private-0750", unix.S_IFDIR, 0o750},
		{"empty/nested/deeper/deepest", unix.S_IFDIR, 0o755},
		{"empty/empty-file", unix.S_IFREG, 0o644},
		{"links/dangling", unix.S_IFLNK, 0o777},
		{"links/to-dir", unix.S_IFLNK, 0o777},
	}
	for _, ck := range checks {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(sec, ck.rel), &st); err != nil {
			t.Errorf("secondary %q: %v", ck.rel, err)
			continue
		}
		if st.Mode&unix.S_IFMT != ck.kind || st.Mode&0o7777 != ck.perm {
			t.Errorf("secondary %q: mode %#o, want type %#o perm %#o", ck.rel, st.Mode, ck.kind, ck.perm)
		}
	}
	if target, err := os.Readlink(filepath.Join(sec, "links/dangling")); err != nil || target != "does-not-exist" {
		t.Errorf("dangling symlink on the secondary: %q, %v", target, err)
	}
	if _, err := os.Lstat(filepath.Join(sec, "nextcloud.log")); !os.IsNotExist(err) {
		t.Errorf("ignored /nextcloud.log on the secondary: %v", err)
	}
	if tmp := tempFiles(sec); len(tmp) > 0 {
		t.Errorf("temp files left on the secondary: %q", tmp)
	}
	st := c.mustStatus(primaryName)
	t.Logf("primary folder status: %+v", st.Folders)
}

// TestIncrementalTransfer checks that only changed chunks travel: an edit
// of 4 KiB in the middle of a 64 MiB file and an insert of 100 bytes at its
// front each fetch at most a few chunks; a rename of the file into another
// directory fetches nothing.
func TestIncrementalTransfer(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	big := filepath.Join(root, "a", "big.bin")
	writeRandomFile(t, big, 64*miB, 7, 0o644)
	writeFile(t, filepath.Join(root, "b", "readme.txt"), []byte("hello"), 0o644)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")

	base := c.bytesReceived("nfs2")
	step := func(what string, change func()) uint64 {
		t.Helper()
		change()
		c.waitConsistent(ctx, "nfs2")
		now := c.bytesReceived("nfs2")
		if now < base {
			t.Fatalf("%s: the secondary's BytesReceived went down from %d to %d", what, base, now)
		}
		delta := now - base
		base = now
		t.Logf("%s: the secondary fetched %d bytes (%.1f KiB)", what, delta, float64(delta)/kiB)
		return delta
	}
	checkFew := func(what string, delta uint64) {
		t.Helper()
		if delta == 0 {
			t.Errorf("%s: the secondary fetched nothing, but a changed chunk must be fetched (is BytesReceived counted?)", what)
		}
		if delta > 3*256*kiB {
			t.Errorf("%s: fetched %d bytes, more than 3 max-size chunks (%d)", what, delta, 3*256*kiB)
		}
		if delta > 3*128*kiB {
			t.Errorf("%s: fetched %d bytes, more than 3 × 128 KiB (%d)", what, delta, 3*128*kiB)
		}
	}

	d := step("edit 4 KiB in the middle", func() {
		f, err := os.OpenFile(big, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(randBytes(8, 4*kiB), 32*miB+12345); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	})
	checkFew("edit 4 KiB in the middle", d)

	d = step("insert 100 bytes at the front", func() {
		old, err := os.ReadFile(big)
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(c.scratch(), "big.new")
		writeFile(t, tmp, append(randBytes(9, 100), old...), 0o644)
		if err := os.Rename(tmp, big); err != nil {
			t.Fatal(err)
		}
	})
	checkFew("insert 100 bytes at the front", d)
	// Both edits' changed chunks came as patches against the bytes they
	// replaced in nfs2's previous version.
	if f := c.mustStatus("nfs2").Folders[0]; f.ChunksPatched < 2 || f.ChunkPatchesRefused != 0 {
		t.Errorf("nfs2 status: %d chunks patched, %d patches refused; want at least one per edit, none refused", f.ChunksPatched, f.ChunkPatchesRefused)
	}

	d = step("rename into another directory", func() {
		if err := os.MkdirAll(filepath.Join(root, "b", "moved"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(big, filepath.Join(root, "b", "moved", "big-renamed.bin")); err != nil {
			t.Fatal(err)
		}
	})
	if d != 0 {
		t.Errorf("rename of a 64 MiB file: the secondary fetched %d chunk bytes, want 0 (its chunks are all local)", d)
	}
}
