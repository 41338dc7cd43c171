package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// backupScript is the example backup script this test runs as an
// operator would, through `ncsync snapshot`.
var backupScript = filepath.Join("..", "examples", "backup.sh")

// runBackup runs examples/backup.sh through `ncsync snapshot` on the
// secondary nfs2 into dest and returns its output.
func runBackup(t *testing.T, c *cluster, root, dest string) string {
	t.Helper()
	sec := c.node("nfs2")
	script, err := filepath.Abs(backupScript)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ncsyncBin, "snapshot", "--config", sec.cfgPath, "--peer", "nfs2", "--ttl", "5m", "--", script)
	cmd.Env = append(os.Environ(), "BACKUP_ROOT="+root, "DEST="+dest, "NCSYNC="+ncsyncBin,
		"NCSYNC_CONFIG="+sec.cfgPath, "DB_NAME=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("backup into %s: %v\n%s", dest, err, out)
	}
	return string(out)
}

// TestIncrementalBackup: a backup made from `ncsync changes` (the last
// backup hard-linked, its deleted paths removed, the changed ones copied
// with rsync --files-from) equals a full copy, after creates, edits,
// deletes, renames of files and directories, type and mode changes; and
// the last backup keeps its own state.
func TestIncrementalBackup(t *testing.T) {
	skipShort(t)
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("needs rsync:", err)
	}
	c := newCluster(t, clusterOptions{})
	src := c.tree(primaryName, "data")
	smallTree(t, src, 200, 21)
	writeFile(t, filepath.Join(src, "edit.txt"), []byte("first\n"), 0o644)
	writeFile(t, filepath.Join(src, "chmod.txt"), []byte("mode only\n"), 0o644)
	writeFile(t, filepath.Join(src, "gone.txt"), []byte("deleted later\n"), 0o644)
	writeFile(t, filepath.Join(src, "becomes-dir"), []byte("a file, then a directory\n"), 0o644)
	writeFile(t, filepath.Join(src, "old name.txt"), []byte("renamed later\n"), 0o644)
	writeFile(t, filepath.Join(src, "gone-dir/sub/a.txt"), []byte("a\n"), 0o644)
	writeFile(t, filepath.Join(src, "moved-dir/sub/b.txt"), []byte("b\n"), 0o644)
	writeFile(t, filepath.Join(src, "becomes-file/c.txt"), []byte("c\n"), 0o644)
	if err := os.Symlink("edit.txt", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	sec := c.tree("nfs2", "data")

	root := t.TempDir()
	b1, b2, b3 := filepath.Join(root, "b1"), filepath.Join(root, "b2"), filepath.Join(root, "b3")
	if out := runBackup(t, c, root, b1); !strings.Contains(out, "data: full copy") {
		t.Errorf("first backup: want a full copy:\n%s", out)
	}
	first := copyTree(t, sec)

	// Changes of every kind between the two snapshots.
	writeFile(t, filepath.Join(src, "edit.txt"), []byte("second, longer\n"), 0o644)
	must(t, os.Chmod(filepath.Join(src, "chmod.txt"), 0o600))
	must(t, os.Remove(filepath.Join(src, "gone.txt")))
	must(t, os.RemoveAll(filepath.Join(src, "gone-dir")))
	must(t, os.Rename(filepath.Join(src, "old name.txt"), filepath.Join(src, "d01", "new name.txt")))
	must(t, os.Rename(filepath.Join(src, "moved-dir"), filepath.Join(src, "d02", "moved-here")))
	must(t, os.Remove(filepath.Join(src, "becomes-dir")))
	writeFile(t, filepath.Join(src, "becomes-dir", "inside.txt"), []byte("now a directory\n"), 0o644)
	must(t, os.RemoveAll(filepath.Join(src, "becomes-file")))
	writeFile(t, filepath.Join(src, "becomes-file"), []byte("now a file\n"), 0o644)
	must(t, os.Remove(filepath.Join(src, "link")))
	must(t, os.Symlink("d01", filepath.Join(src, "link")))
	writeFile(t, filepath.Join(src, "new-dir", "deep", "n.txt"), []byte("new\n"), 0o644)
	must(t, os.Mkdir(filepath.Join(src, "empty-dir"), 0o750))
	writeFile(t, filepath.Join(src, "line\nbreak.txt"), []byte("a name with a newline\n"), 0o644)
	c.waitConsistent(ctx, "nfs2")

	out := runBackup(t, c, root, b2)
	if !strings.Contains(out, "data: incremental") {
		t.Fatalf("second backup: want an incremental copy:\n%s", out)
	}
	if diffs := compareTrees(t, sec, filepath.Join(b2, "data"), defaultIgnore); len(diffs) > 0 {
		t.Errorf("the incremental backup differs from the secondary's tree:\n  %s", strings.Join(limit(diffs, 30), "\n  "))
	}
	if diffs := compareTrees(t, first, filepath.Join(b1, "data"), defaultIgnore); len(diffs) > 0 {
		t.Errorf("the first backup changed when the second was made from it:\n  %s", strings.Join(limit(diffs, 30), "\n  "))
	}

	// A point the journal cannot answer for: the script copies in full.
	must(t, os.WriteFile(filepath.Join(b2, "SNAPSHOT_SEQ"), []byte("data=999999999\n"), 0o644))
	if out := runBackup(t, c, root, b3); !strings.Contains(out, "data: full copy") || !strings.Contains(out, "another history") {
		t.Errorf("third backup from an unknown point: want the reason and a full copy:\n%s", out)
	}
	if diffs := compareTrees(t, sec, filepath.Join(b3, "data"), defaultIgnore); len(diffs) > 0 {
		t.Errorf("the full backup differs from the secondary's tree:\n  %s", strings.Join(limit(diffs, 30), "\n  "))
	}
}

// TestChangesCLI: the listing's forms and its refusals.
func TestChangesCLI(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	src := c.tree(primaryName, "data")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a\n"), 0o644)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	sec := c.node("nfs2")
	head := c.mustStatus(primaryName).Folders[0].Seq

	writeFile(t, filepath.Join(src, "b.txt"), []byte("b\n"), 0o644)
	must(t, os.Remove(filepath.Join(src, "a.txt")))
	c.waitConsistent(ctx, "nfs2")
	del := filepath.Join(t.TempDir(), "deleted")
	for _, n := range []*node{c.node(primaryName), sec} { // primary and secondary alike
		out := c.mustCLI("changes", "--socket", n.socket, "--folder", "data", "--since", "data="+strconv.FormatUint(head, 10), "--deleted", del)
		got, err := os.ReadFile(del)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "b.txt\n") || strings.Contains(out, "a.txt") || string(got) != "a.txt\n" {
			t.Errorf("%s: changed %q, deleted %q; want b.txt (with the directory) and a.txt", n.name, out, got)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--folder", "data", "--since", "999999"}, 1, "ahead of this node's journal"},
		{[]string{"--folder", "data", "--since", "1", "--until", "999999"}, 1, "not yet 999999"},
		{[]string{"--folder", "web", "--since", "1"}, 1, `no folder "web"`},
		{[]string{"--folder", "data", "--since", "web=4"}, 2, "names folders web, not data"},
		{[]string{"--folder", "data", "--since", "5", "--until", "4"}, 1, "the start 5 is after the end 4"},
	} {
		_, errOut, code, err := cli(ctx, append([]string{"changes", "--socket", sec.socket}, tc.args...)...)
		if err != nil || code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("changes %v: exit %d, %v, %q; want exit %d and %q", tc.args, code, err, errOut, tc.code, tc.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
