package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKill9SecondaryMidTransfer kills the secondary with SIGKILL in the
// middle of a 256 MiB transfer and restarts it: it converges, leaves no temp
// file, and a reader looping on the target path meanwhile only ever sees
// complete versions: absent before the file first arrives (new file), the
// old or the new content (replaced file), never short, torn or missing.
func TestKill9SecondaryMidTransfer(t *testing.T) {
	skipShort(t)
	const size = 256 * miB
	for _, tc := range []struct {
		name    string
		oldSize int64 // 0: the file is new
	}{
		{"new file", 0},
		{"replaced file", 128 * miB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, clusterOptions{})
			root := c.tree(primaryName, "data")
			rel := filepath.Join("big", "huge.bin")
			smallTree(t, root, 100, 3)
			if err := os.MkdirAll(filepath.Join(root, "big"), 0o755); err != nil {
				t.Fatal(err)
			}
			versions := map[int64][32]byte{}
			if tc.oldSize > 0 {
				versions[tc.oldSize] = writeRandomFile(t, filepath.Join(root, rel), tc.oldSize, 31, 0o644)
			}
			c.start(primaryName)
			c.start("nfs2")
			ctx := context.Background()
			c.waitConsistent(ctx, "nfs2")

			// The new version, hashed before it exists anywhere, so that the
			// reader knows it; then renamed into the primary's tree whole.
			tmp := filepath.Join(c.scratch(), "huge.new")
			versions[size] = writeRandomFile(t, tmp, size, 32, 0o644)
			sec := filepath.Join(c.tree("nfs2", "data"), rel)
			r := startReader(sec, tc.oldSize > 0, versions)
			t.Cleanup(func() { r.finish() })

			base := c.bytesReceived("nfs2")
			if err := os.Rename(tmp, filepath.Join(root, rel)); err != nil {
				t.Fatal(err)
			}
			var got uint64
			waitFor(t, convergeTimeout, func() string {
				return fmt.Sprintf("the secondary fetched %d bytes of the 256 MiB file, waiting for 32 MiB", got)
			}, func() bool {
				got = c.bytesReceived("nfs2") - base
				return got > 32*miB
			})
			c.kill9("nfs2")
			t.Logf("killed the secondary after it fetched %.1f MiB of %d MiB", float64(got)/miB, size/miB)
			if got >= size {
				t.Errorf("the transfer was complete (%d bytes) before the kill: the test did not kill mid-transfer", got)
			}
			t.Logf("temp files after the kill: %q", tempFiles(c.tree("nfs2", "data")))

			// Let the reader see the dead secondary's tree for a moment.
			time.Sleep(100 * time.Millisecond)
			c.start("nfs2")
			c.waitConsistent(ctx, "nfs2")

			if tmp := tempFiles(c.tree("nfs2", "data")); len(tmp) > 0 {
				t.Errorf("temp files left on the secondary after convergence: %q", tmp)
			}
			violations, opens, hashes, last := r.finish()
			t.Logf("reader: %d opens, %d versions hashed", opens, hashes)
			for _, v := range violations {
				t.Errorf("reader on the secondary saw: %s", v)
			}
			if last != versions[size] {
				t.Errorf("the reader's last complete read was not the new version")
			}
		})
	}
}

// TestKill9PrimaryNoRehash kills the primary with SIGKILL, changes the tree
// while it is down (10 files modified, 10 added, 10 deleted of 5,000) and
// restarts it: the secondary converges, and the primary read and hashed
// exactly the 20 changed and added files, not the unchanged ones.
func TestKill9PrimaryNoRehash(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	files := smallTree(t, root, 5000, 4)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")

	c.kill9(primaryName)
	var touched []string
	for i := range 10 {
		modified := filepath.Join(root, files[i*491])
		added := filepath.Join(root, fmt.Sprintf("d%02d/added-%02d.txt", i, i))
		writeFile(t, modified, randBytes(uint64(1000+i), 3000+i), 0o644)
		writeFile(t, added, randBytes(uint64(2000+i), 1000+i), 0o644)
		if err := os.Remove(filepath.Join(root, files[i*491+7])); err != nil { // deleted
			t.Fatal(err)
		}
		touched = append(touched, modified, added)
	}
	// The scanner reads a file whose ctime is very recent once more on the
	// next scan (a "racily clean" guard against same-tick writes). Restart
	// when the changes are a second old, as after a real outage, so that
	// the count below is exactly the changed files.
	waitPast(t, touched, time.Second)
	c.start(primaryName)
	c.waitConsistent(ctx, "nfs2")

	st := c.mustStatus(primaryName)
	var hashed uint64
	for _, f := range st.Folders {
		hashed += f.FilesHashed
	}
	t.Logf("after the restart the primary hashed %d files (folders %+v)", hashed, st.Folders)
	if hashed != 20 {
		t.Errorf("the primary hashed %d files after its restart, want exactly 20 (10 modified + 10 added; unchanged files must not be read again)", hashed)
	}
}

// waitPast waits until the newest ctime of paths is at least age old.
func waitPast(t *testing.T, paths []string, age time.Duration) {
	t.Helper()
	var newest int64
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		newest = max(newest, st.Ctim.Nano())
	}
	if d := time.Until(time.Unix(0, newest).Add(age)); d > 0 {
		time.Sleep(d)
	}
}
