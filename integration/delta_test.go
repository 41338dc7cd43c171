package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChunkDeltaFallback: an edit of a large file reaches each secondary
// as the delta of its chunk list against the version it was sent before.
// nfs2 refused that version (it ignored the path then), so it does not
// hold the delta's base: it fetches the whole list from the primary and
// converges, acknowledging as usual; nfs3 builds the list from its own
// index and fetches none.
func TestChunkDeltaFallback(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{secondaries: []string{"nfs2", "nfs3"}})
	root := c.tree(primaryName, "data")
	big := filepath.Join(root, "big.bin")
	writeRandomFile(t, big, 8*miB, 11, 0o644) // about 128 chunks
	writeFile(t, filepath.Join(root, "small.txt"), []byte("small\n"), 0o644)
	const ignoreLine, ignoreBig = "ignore: [/nextcloud.log]", "ignore: [/nextcloud.log, /big.bin]"
	c.editConfig("nfs2", ignoreLine, ignoreBig)
	ctx := context.Background()
	c.start(primaryName)
	c.start("nfs2")
	c.start("nfs3")
	c.waitConsistent(ctx, "nfs3")
	waitFor(t, convergeTimeout, func() string { return "nfs2 has not acknowledged the head" }, func() bool {
		st, err := c.status(primaryName)
		ok, _ := acked(st, []string{"nfs2"})
		return err == nil && ok
	})
	if _, err := os.Lstat(filepath.Join(c.tree("nfs2", "data"), "big.bin")); !os.IsNotExist(err) {
		t.Fatalf("nfs2 wrote the path it ignores: %v", err)
	}

	// nfs2 takes the path again; the primary edits it.
	c.stop("nfs2")
	c.editConfig("nfs2", ignoreBig, ignoreLine)
	c.start("nfs2")
	f, err := os.OpenFile(big, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(randBytes(12, 4*kiB), 4*miB+777); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c.waitConsistent(ctx, "nfs2", "nfs3")

	if n := c.mustStatus("nfs2").Folders[0].ChunkListsFetched; n != 1 {
		t.Errorf("nfs2 status: %d chunk lists fetched, want 1", n)
	}
	if n := c.mustStatus("nfs3").Folders[0].ChunkListsFetched; n != 0 {
		t.Errorf("nfs3 status: %d chunk lists fetched, want 0", n)
	}
	for _, p := range c.mustStatus(primaryName).Peers {
		if d := p.Folders[0].ChunkListDeltas; d != 1 {
			t.Errorf("primary status: %d entries sent to %s with a chunk list delta, want 1", d, p.Node)
		}
	}
	const fetched = "fetching a chunk list sent as a delta"
	if log := logSince(t, c, "nfs2", ""); !strings.Contains(log, fetched) || !strings.Contains(log, "big.bin") {
		t.Errorf("nfs2, without the base, did not fetch the list; its log:\n%s", tail(c.node("nfs2").logPath, 30))
	}
	if log := logSince(t, c, "nfs3", ""); strings.Contains(log, fetched) {
		t.Errorf("nfs3, which holds the base, fetched the list; its log:\n%s", tail(c.node("nfs3").logPath, 30))
	}
	if log := logSince(t, c, "nfs2", ""); strings.Contains(log, "refused entry from primary") && strings.Contains(log, "chunk list") {
		t.Errorf("nfs2 refused the list; its log:\n%s", tail(c.node("nfs2").logPath, 30))
	}
}
