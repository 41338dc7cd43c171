package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncsync/ncsync/report"
)

// TestStoppedSecondaryCatchesUp runs two secondaries and stops one (SIGTERM)
// while the tree keeps changing: the other keeps up on its own; the stopped
// one, restarted, resumes from its position and fetches only the changed
// data, far less than the tree.
func TestStoppedSecondaryCatchesUp(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{secondaries: []string{"nfs2", "nfs3"}})
	root := c.tree(primaryName, "data")
	files := smallTree(t, root, 1000, 5)
	writeRandomFile(t, filepath.Join(root, "big", "blob.bin"), 32*miB, 51, 0o644)
	ctx := context.Background()
	// The secondaries start first: they must wait for the primary.
	c.start("nfs2")
	c.start("nfs3")
	c.start(primaryName)
	c.waitConsistent(ctx, "nfs2", "nfs3")

	full := treeBytes(t, root)
	before := c.mustStatus("nfs3").Folders[0].Seq
	c.stop("nfs3")
	waitFor(t, convergeTimeout, func() string { return "the primary still shows nfs3 connected" }, func() bool {
		st, err := c.status(primaryName)
		if err != nil {
			return false
		}
		i := slices.IndexFunc(st.Peers, func(p report.Peer) bool { return p.Node == "nfs3" })
		return i >= 0 && !st.Peers[i].Connected
	})

	var changed int64 // bytes of new content written while nfs3 is down
	next := 0
	for round := range 5 {
		for i := range 20 { // modify
			data := randBytes(uint64(10_000+round*100+i), 4*kiB+round*10+i)
			writeFile(t, filepath.Join(root, files[next]), data, 0o644)
			changed += int64(len(data))
			next++
		}
		for i := range 10 { // add
			data := randBytes(uint64(20_000+round*100+i), 8*kiB+i)
			writeFile(t, filepath.Join(root, fmt.Sprintf("new/r%d/f%02d.bin", round, i)), data, 0o644)
			changed += int64(len(data))
		}
		for range 5 { // delete
			if err := os.Remove(filepath.Join(root, files[next])); err != nil {
				t.Fatal(err)
			}
			next++
		}
		c.waitConsistent(ctx, "nfs2")
	}
	st := c.mustStatus(primaryName)
	if ok, _ := acked(st, []string{"nfs3"}); ok {
		t.Errorf("the stopped nfs3 is shown as acknowledging the head: %+v", st.Peers)
	}

	c.start("nfs3")
	if resumed := c.mustStatus("nfs3").Folders[0].Seq; resumed < before {
		t.Errorf("nfs3 restarted at position %d, behind the %d it had applied", resumed, before)
	}
	c.waitConsistent(ctx, "nfs2", "nfs3")
	got := c.bytesReceived("nfs3")
	t.Logf("nfs3 fetched %d bytes after its restart; %d bytes changed; the tree holds %d bytes", got, changed, full)
	if got >= uint64(full) {
		t.Errorf("nfs3 fetched %d bytes after its restart, not less than the whole tree (%d): it did not resume from its position", got, full)
	}
	if got > uint64(2*changed) {
		t.Errorf("nfs3 fetched %d bytes after its restart, more than twice the %d bytes that changed", got, changed)
	}
}

// treeBytes is the total size of the regular files beneath root.
func treeBytes(t *testing.T, root string) int64 {
	t.Helper()
	tree, err := scanTree(root)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, si := range tree {
		if si.kind() == "file" {
			n += si.size
		}
	}
	return n
}
