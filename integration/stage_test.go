package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// stagedOf returns the bytes the primary reports staged for peer's pause
// (-1: not paused).
func stagedOf(c *cluster, peer string) int64 {
	for _, p := range c.mustStatus(primaryName).Pauses {
		if p.Peer == peer {
			return int64(p.StagedBytes)
		}
	}
	return -1
}

// sentTo returns the chunk bytes the primary has sent to peer.
func sentTo(c *cluster, peer string) int64 {
	for _, p := range c.mustStatus(primaryName).Peers {
		if p.Node == peer {
			return int64(p.BytesSent)
		}
	}
	return 0
}

// TestPauseStagesChanges: while paused, the changes that arrive are
// staged under the secondary's state dir without touching its tree, the
// stage survives a kill -9 of the secondary, and resume applies it
// without the primary sending its data again.
func TestPauseStagesChanges(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 100, 11)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")

	sock := c.node(primaryName).socket
	c.mustCLI("pause", "--socket", sock, "--peer", "nfs2", "--ttl", "5m", "--timeout", "30s")
	atT := copyTree(t, root)
	const big = 6 << 20
	writeRandomFile(t, filepath.Join(root, "after", "big.bin"), big, 12, 0o644)
	writeFile(t, filepath.Join(root, "after", "small.txt"), []byte("staged\n"), 0o644)

	deadline := time.Now().Add(15 * time.Second)
	for stagedOf(c, "nfs2") < big {
		if time.Now().After(deadline) {
			t.Fatalf("staged bytes reported: %d, want at least %d", stagedOf(c, "nfs2"), big)
		}
		time.Sleep(100 * time.Millisecond)
	}
	holdsStill(t, c, "nfs2", atT, time.Second)
	if n := dirBytes(t, filepath.Join(c.node("nfs2").stateDir, "stage")); n < big {
		t.Errorf("the secondary's stage holds %d bytes, want at least %d", n, big)
	}

	c.kill9("nfs2")
	c.start("nfs2")
	holdsStill(t, c, "nfs2", atT, time.Second)
	before := sentTo(c, "nfs2")
	c.mustCLI("resume", "--socket", sock, "--peer", "nfs2")
	c.waitConsistent(ctx, "nfs2")
	if resent := sentTo(c, "nfs2") - before; resent > big/4 {
		t.Errorf("resume sent %d chunk bytes again; the %d staged bytes should have been applied from the stage", resent, big)
	}
	if n := dirBytes(t, filepath.Join(c.node("nfs2").stateDir, "stage")); n != 0 {
		t.Errorf("after resume the stage still holds %d bytes", n)
	}
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
