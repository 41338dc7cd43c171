package integration

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/report"
)

// appendConfig adds YAML to a node's config before it starts.
func (c *cluster) appendConfig(name, yaml string) {
	c.t.Helper()
	f, err := os.OpenFile(c.node(name).cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		c.t.Fatal(err)
	}
}

// allocatedUnder sums the blocks allocated by the files beneath dir.
func allocatedUnder(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err == nil {
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConflictStoreSparseFile: a local user puts a 256 MiB sparse file (no
// blocks) at a path the primary then replaces. The secondary keeps it, but
// the conflict store grows by about nothing: the version is kept by a hard
// link on the folder's file system, never written out in full. With
// state_dir on another file system, the folder keeps its own store at its
// root for that, hidden from the primary and from the tree's comparison.
func TestConflictStoreSparseFile(t *testing.T) {
	skipShort(t)
	for _, elsewhere := range []bool{false, true} {
		name := "state_dir on the folder's file system"
		if elsewhere {
			name = "state_dir on another file system"
		}
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, clusterOptions{})
			pri, sec := c.tree(primaryName, "data"), c.tree("nfs2", "data")
			store := filepath.Join(c.node("nfs2").stateDir, "conflicts")
			if elsewhere {
				mountTmpfs(t, c.node("nfs2").stateDir, 64<<20)
				store = filepath.Join(sec, preserve.FolderStoreName)
			}
			writeFile(t, filepath.Join(pri, "f.txt"), []byte("version 1\n"), 0o644)
			c.start(primaryName)
			c.start("nfs2")
			c.waitConsistent(context.Background(), "nfs2")

			before := allocatedUnder(t, store)
			const size = 256 << 20
			if err := os.Truncate(filepath.Join(sec, "f.txt"), size); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(pri, "f.txt"), []byte("version 2\n"), 0o644)
			c.waitConsistent(context.Background(), "nfs2")

			list := c.conflicts("nfs2")
			if len(list) != 1 || list[0].Path != "f.txt" || list[0].Size != size || !strings.HasPrefix(list[0].KeptAt, store+"/") {
				t.Fatalf("preserved %+v, want f.txt of %d bytes in %s", list, size, store)
			}
			if grew := allocatedUnder(t, store) - before; grew > 1<<20 {
				t.Fatalf("the conflict store grew by %d bytes to keep a sparse file with no data", grew)
			}
			if _, err := os.Lstat(filepath.Join(pri, preserve.FolderStoreName)); !os.IsNotExist(err) {
				t.Fatalf("the secondary's conflict store reached the primary (%v)", err)
			}
		})
	}
}

// TestConflictStoreLimit: with conflicts.max_bytes reached, a local
// version that does not fit is not dropped and not kept: the primary's
// change of its path waits (the local file stays), status names the
// folder, the path and what to do, and the change is applied once
// `ncsync conflicts prune` made room. A prune by age leaves younger
// records alone.
func TestConflictStoreLimit(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	c.appendConfig("nfs2", "conflicts: {max_bytes: 1MiB}\n")
	pri, sec := c.tree(primaryName, "data"), c.tree("nfs2", "data")
	writeFile(t, filepath.Join(pri, "a.bin"), []byte("a from the primary\n"), 0o644)
	writeFile(t, filepath.Join(pri, "b.bin"), []byte("b from the primary\n"), 0o644)
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")

	local := func(name string) []byte {
		b := make([]byte, 600<<10)
		_, _ = rand.Read(b)
		writeFile(t, filepath.Join(sec, name), b, 0o644)
		return b
	}
	// The first local version fits (600 KiB of 1 MiB) and is kept.
	local("a.bin")
	writeFile(t, filepath.Join(pri, "a.bin"), []byte("a version 2\n"), 0o644)
	c.waitConsistent(context.Background(), "nfs2")
	if list := c.conflicts("nfs2"); len(list) != 1 || list[0].Path != "a.bin" {
		t.Fatalf("preserved %+v, want a.bin", list)
	}

	// The second does not: its entry waits, the local file stays.
	localB := local("b.bin")
	writeFile(t, filepath.Join(pri, "b.bin"), []byte("b version 2\n"), 0o644)
	full := c.waitStoreFull("nfs2", "data")
	if full.Path != "b.bin" || full.KeptPath != "b.bin" || full.MaxBytes != 1<<20 ||
		!strings.Contains(full.Message, "conflicts.max_bytes") || !strings.Contains(full.Message, "ncsync conflicts prune") {
		t.Fatalf("status says %+v", full)
	}
	out := c.mustCLI("status", "--socket", c.node("nfs2").socket)
	if !strings.Contains(out, `WAITING folder data at "b.bin"`) || !strings.Contains(out, "prune") {
		t.Fatalf("status text does not say what waits:\n%s", out)
	}
	if got, err := os.ReadFile(filepath.Join(sec, "b.bin")); err != nil || string(got) != string(localB) {
		t.Fatalf("the local version of b.bin was not left in place (%v)", err)
	}
	if ok, _ := acked(c.mustStatus(primaryName), []string{"nfs2"}); ok {
		t.Fatal("the secondary acknowledged the change it could not apply")
	}

	// A prune of older records leaves the younger one; a dry run removes
	// nothing; a prune by the age of the record makes room.
	prune := func(args ...string) prunedListing {
		out := c.mustCLI(append([]string{"conflicts", "prune", "--json", "--socket", c.node("nfs2").socket}, args...)...)
		var p prunedListing
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("prune --json: %v\n%s", err, out)
		}
		return p
	}
	if p := prune("--older-than", "1h"); len(p.Pruned) != 0 {
		t.Fatalf("prune --older-than 1h removed %+v", p.Pruned)
	}
	if p := prune("--older-than", "0s", "--dry-run"); len(p.Pruned) != 1 || !p.DryRun || len(c.conflicts("nfs2")) != 1 {
		t.Fatalf("dry run: %+v", p)
	}
	if p := prune("--older-than", "0s"); len(p.Pruned) != 1 || p.Pruned[0].Path != "a.bin" || p.Pruned[0].OnDisk < 600<<10 {
		t.Fatalf("prune: %+v", p)
	}
	c.waitConsistent(context.Background(), "nfs2")
	list := c.conflicts("nfs2")
	if len(list) != 1 || list[0].Path != "b.bin" || list[0].Size != int64(len(localB)) {
		t.Fatalf("preserved %+v, want only b.bin", list)
	}
	if st := c.mustStatus("nfs2"); st.Folders[0].ConflictStoreFull != nil {
		t.Fatalf("status still waits: %+v", st.Folders[0].ConflictStoreFull)
	}
}

// prunedListing is the part of `ncsync conflicts prune --json` the test
// reads.
type prunedListing struct {
	DryRun bool `json:"dry_run"`
	Pruned []struct {
		Path   string `json:"path"`
		OnDisk int64  `json:"bytes_on_disk"`
	} `json:"pruned"`
}

// waitStoreFull waits until folder id of node name waits for room in its
// conflict store.
func (c *cluster) waitStoreFull(name, id string) report.ConflictStoreFull {
	c.t.Helper()
	deadline := time.Now().Add(convergeTimeout)
	for time.Now().Before(deadline) {
		st := c.mustStatus(name)
		for _, f := range st.Folders {
			if f.ID == id && f.ConflictStoreFull != nil {
				return *f.ConflictStoreFull
			}
		}
		time.Sleep(pollEvery)
	}
	c.t.Fatalf("folder %s of %s never waited for room in its conflict store", id, name)
	return report.ConflictStoreFull{}
}
