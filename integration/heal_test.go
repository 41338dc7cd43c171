package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// noRepair is the extraConfig of a cluster whose secondaries leave the
// local changes made by a test in place.
func noRepair(name string) string {
	if name == primaryName {
		return ""
	}
	return "watch: {repair: false}\n"
}

// healTree is the primary's tree the heal tests tamper with on the
// secondary.
func healTree(t *testing.T, root string) {
	writeFile(t, filepath.Join(root, "docs/a.txt"), []byte("the primary's a.txt\n"), 0o644)
	writeFile(t, filepath.Join(root, "del/b.txt"), []byte("the primary's b.txt\n"), 0o644)
	writeFile(t, filepath.Join(root, "mode/c.txt"), []byte("the primary's c.txt\n"), 0o644)
	writeFile(t, filepath.Join(root, "type/d.txt"), []byte("the primary's d.txt, a file\n"), 0o644)
	writeFile(t, filepath.Join(root, "typedir/e.txt"), []byte("the primary's e.txt, in a directory\n"), 0o644)
	writeRandomFile(t, filepath.Join(root, "big/large.bin"), 3<<20, 15, 0o644)
	mustOK(t, os.Chmod(filepath.Join(root, "mode"), 0o750))
}

// localEdit is what the tests write over docs/a.txt on the secondary.
var localEdit = []byte("edited by hand on nfs2\n")

// tamper changes sec by hand: a deletion, an edit, a chmod of a file and
// of a directory, a file replaced by a directory holding a file, a
// directory replaced by a symlink, a file and a directory the primary does
// not have, and a few bytes of a large file. It returns the paths whose
// local content must be kept in the conflict store.
func tamper(t *testing.T, sec string) []string {
	mustOK(t, os.Remove(filepath.Join(sec, "del/b.txt")))
	writeFile(t, filepath.Join(sec, "docs/a.txt"), localEdit, 0o644)
	mustOK(t, os.Chmod(filepath.Join(sec, "mode/c.txt"), 0o600))
	mustOK(t, os.Chmod(filepath.Join(sec, "mode"), 0o777))
	mustOK(t, os.Remove(filepath.Join(sec, "type/d.txt")))
	writeFile(t, filepath.Join(sec, "type/d.txt/inside.txt"), []byte("made by hand where d.txt was\n"), 0o644)
	mustOK(t, os.RemoveAll(filepath.Join(sec, "typedir")))
	mustOK(t, os.Symlink("docs", filepath.Join(sec, "typedir")))
	writeFile(t, filepath.Join(sec, "extra/new.txt"), []byte("made by hand, the primary has nothing here\n"), 0o644)
	f, err := os.OpenFile(filepath.Join(sec, "big/large.bin"), os.O_WRONLY, 0)
	mustOK(t, err)
	_, err = f.WriteAt([]byte("scribbled"), 1<<20)
	mustOK(t, err)
	mustOK(t, f.Close())
	return []string{"big/large.bin", "docs/a.txt", "extra/new.txt", "type/d.txt/inside.txt", "typedir"}
}

// checkHealed waits until nfs2's tree equals the primary's again, then
// checks that every local version with data of its own is in the conflict
// store, the edit restorable byte for byte, and that status counts the
// repairs. It returns how long the repair took.
func checkHealed(t *testing.T, c *cluster, kept []string, since time.Time) time.Duration {
	t.Helper()
	waitFor(t, 30*time.Second, func() string {
		return fmt.Sprintf("nfs2 not repaired:\n  %s\nlog:\n%s", strings.Join(limit(c.diffs([]string{"nfs2"}), 20), "\n  "),
			tail(c.node("nfs2").logPath, 30))
	}, func() bool { return len(c.diffs([]string{"nfs2"})) == 0 })
	took := time.Since(since)
	var got []string
	var edit conflictListing
	for _, r := range c.conflicts("nfs2") {
		got = append(got, r.Path)
		if r.Path == "docs/a.txt" {
			edit = r
		}
		if r.Cause != "local-change" || r.Node != "nfs2" || r.Reason == "" {
			t.Errorf("record %+v", r)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, kept) {
		t.Errorf("kept %q, want %q", got, kept)
	}
	to := filepath.Join(t.TempDir(), "a.txt")
	c.mustCLI("conflicts", "restore", edit.ID, "--to", to, "--config", c.node("nfs2").cfgPath)
	if b, err := os.ReadFile(to); err != nil || string(b) != string(localEdit) {
		t.Errorf("restored edit %q (%v), want %q", b, err, localEdit)
	}
	st := c.mustStatus("nfs2")
	if len(st.Folders) != 1 || st.Folders[0].Repairs < 8 {
		t.Errorf("status folders %+v, want at least 8 repairs", st.Folders)
	}
	if out := c.mustCLI("status", "--socket", c.node("nfs2").socket); !strings.Contains(out, "REPAIRED folder data:") {
		t.Errorf("status does not report the repairs:\n%s", out)
	}
	if !c.logHas("nfs2", "repaired a local change", "docs/a.txt") {
		t.Error("the repair of docs/a.txt is not logged")
	}
	return took
}

// checkReplicates checks that a repaired secondary holds nothing but what
// ncsync wrote: the next change replicates as usual, keeping nothing.
func checkReplicates(t *testing.T, c *cluster) {
	t.Helper()
	before := len(c.conflicts("nfs2"))
	writeFile(t, filepath.Join(c.tree(primaryName, "data"), "docs/a.txt"), []byte("the primary's a.txt, version 2\n"), 0o644)
	c.waitConsistent(context.Background(), "nfs2")
	if n := len(c.conflicts("nfs2")); n != before {
		t.Errorf("%d records in the conflict store after a change from the primary, want %d", n, before)
	}
}

// TestSecondaryHealsWhileRunning: changes made by hand on a running,
// idle secondary (a deletion, an edit, chmods, type changes, new objects)
// are put back to the primary's version, each local version with data
// of its own kept in the conflict store first.
func TestSecondaryHealsWhileRunning(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	healTree(t, c.tree(primaryName, "data"))
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	time.Sleep(300 * time.Millisecond) // idle: the initial audit is done
	fetched := c.bytesReceived("nfs2")
	start := time.Now()
	kept := tamper(t, c.tree("nfs2", "data"))
	took := checkHealed(t, c, kept, start)
	t.Logf("repaired %s after the tampering", took.Round(time.Millisecond))
	// The large file's chunks that still match are reused: only the
	// scribbled one (at most 256 KiB) and the small files come again.
	if n := c.bytesReceived("nfs2") - fetched; n > 512<<10 {
		t.Errorf("the repair fetched %d bytes from the primary, want at most 512 KiB", n)
	}
	checkReplicates(t, c)
}

// TestSecondaryHealsAfterRestart: changes made by hand while the secondary
// was stopped are put back by the audit it runs when it starts.
func TestSecondaryHealsAfterRestart(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	healTree(t, c.tree(primaryName, "data"))
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	c.stop("nfs2")
	kept := tamper(t, c.tree("nfs2", "data"))
	start := time.Now()
	c.start("nfs2")
	took := checkHealed(t, c, kept, start)
	t.Logf("repaired %s after the start", took.Round(time.Millisecond))
	checkReplicates(t, c)
}

// TestSecondaryHealsWhilePaused: a paused secondary is repaired toward the
// pause point, its tree the primary's at that point: a file deleted by
// hand comes back as it was then, and the changes staged meanwhile wait
// for the resume. An edit of a path the primary changed since the pause
// point waits for the resume too (the primary no longer holds the pause
// point's version), which keeps the edit before replacing it.
func TestSecondaryHealsWhilePaused(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	pri, sec := c.tree(primaryName, "data"), c.tree("nfs2", "data")
	writeFile(t, filepath.Join(pri, "p/x.txt"), []byte("x at the pause point\n"), 0o644)
	writeFile(t, filepath.Join(pri, "p/y.txt"), []byte("y at the pause point\n"), 0o644)
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	sock := c.node(primaryName).socket
	c.mustCLI("pause", "--socket", sock, "--peer", "nfs2", "--ttl", "5m", "--timeout", "30s")
	head := c.mustStatus(primaryName).Folders[0].Seq
	writeFile(t, filepath.Join(pri, "p/x.txt"), []byte("x after the pause point\n"), 0o644)
	waitFor(t, 10*time.Second, func() string { return "the primary did not journal x.txt" },
		func() bool { return c.mustStatus(primaryName).Folders[0].Seq > head })

	mustOK(t, os.Remove(filepath.Join(sec, "p/y.txt")))
	writeFile(t, filepath.Join(sec, "p/x.txt"), localEdit, 0o644)
	waitFor(t, 15*time.Second, func() string { return "p/y.txt not put back while paused\n" + tail(c.node("nfs2").logPath, 20) },
		func() bool {
			b, err := os.ReadFile(filepath.Join(sec, "p/y.txt"))
			return err == nil && string(b) == "y at the pause point\n"
		})
	if b, err := os.ReadFile(filepath.Join(sec, "p/x.txt")); err != nil || string(b) != string(localEdit) {
		t.Fatalf("p/x.txt while paused: %q (%v): the staged change or a repair replaced the local edit before the resume", b, err)
	}
	if st := c.mustStatus("nfs2"); st.Folders[0].Seq != head {
		t.Fatalf("nfs2 at sequence %d while paused at %d", st.Folders[0].Seq, head)
	}

	c.mustCLI("resume", "--socket", sock, "--peer", "nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	var kept []string
	for _, r := range c.conflicts("nfs2") {
		kept = append(kept, r.Path)
	}
	if !slices.Equal(kept, []string{"p/x.txt"}) {
		t.Errorf("kept %q, want the edit of p/x.txt", kept)
	}
}
