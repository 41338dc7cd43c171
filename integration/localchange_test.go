package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// conflictListing is the part of `ncsync conflicts --json` the test reads.
type conflictListing struct {
	ID     string `json:"id"`
	Folder string `json:"folder"`
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Node   string `json:"node"`
	Cause  string `json:"cause"`
	Reason string `json:"reason"`
	Size   int64  `json:"size"`
	BLAKE3 string `json:"blake3"`
	KeptAt string `json:"kept_at"`
}

// conflicts lists name's preserved versions through its control socket.
func (c *cluster) conflicts(name string) []conflictListing {
	c.t.Helper()
	out := c.mustCLI("conflicts", "--json", "--socket", c.node(name).socket)
	var list []conflictListing
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		c.t.Fatalf("conflicts --json: %v\n%s", err, out)
	}
	return list
}

// TestLocalChangesOnSecondary: changes made on a secondary, not by ncsync,
// are never silently overwritten. A local edit followed by a primary update
// of the same path, a local file where the primary then creates one, and a
// local file inside a directory the primary deletes are each preserved
// (listed by `ncsync conflicts`, restorable byte for byte, counted in
// status, kept outside the tree) and the secondary converges to the
// primary. A local deletion followed by a primary update preserves nothing.
func TestLocalChangesOnSecondary(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{})
	pri, sec := c.tree(primaryName, "data"), c.tree("nfs2", "data")
	writeFile(t, filepath.Join(pri, "docs/a.txt"), []byte("version 1 from the primary\n"), 0o644)
	writeFile(t, filepath.Join(pri, "del/b.txt"), []byte("b version 1\n"), 0o644)
	writeFile(t, filepath.Join(pri, "gone/keep.txt"), []byte("replicated\n"), 0o644)
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")

	// On the secondary: an edit, a deletion, two new files.
	localEdit := []byte("edited on nfs2 by someone\n")
	localNew := []byte("created on nfs2\n")
	localInGone := []byte("made on nfs2 inside gone/\n")
	writeFile(t, filepath.Join(sec, "docs/a.txt"), localEdit, 0o600)
	writeFile(t, filepath.Join(sec, "docs/new.txt"), localNew, 0o644)
	writeFile(t, filepath.Join(sec, "gone/mine.txt"), localInGone, 0o644)
	if err := os.Remove(filepath.Join(sec, "del/b.txt")); err != nil {
		t.Fatal(err)
	}

	// On the primary: update, update, create the same path, delete the directory.
	writeFile(t, filepath.Join(pri, "docs/a.txt"), []byte("version 2 from the primary\n"), 0o644)
	writeFile(t, filepath.Join(pri, "del/b.txt"), []byte("b version 2\n"), 0o644)
	writeFile(t, filepath.Join(pri, "docs/new.txt"), []byte("the primary's new.txt\n"), 0o644)
	if err := os.RemoveAll(filepath.Join(pri, "gone")); err != nil {
		t.Fatal(err)
	}
	c.waitConsistent(context.Background(), "nfs2")

	list := c.conflicts("nfs2")
	byPath := map[string]conflictListing{}
	for _, r := range list {
		byPath[r.Path] = r
	}
	var paths []string
	for p := range byPath {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	if want := []string{"docs/a.txt", "docs/new.txt", "gone/mine.txt"}; !slices.Equal(paths, want) || len(list) != len(want) {
		t.Fatalf("preserved %q (%d records), want %q:\n%+v", paths, len(list), want, list)
	}
	stateDir := c.node("nfs2").stateDir
	restoreDir := t.TempDir()
	for p, want := range map[string][]byte{"docs/a.txt": localEdit, "docs/new.txt": localNew, "gone/mine.txt": localInGone} {
		r := byPath[p]
		if r.Folder != "data" || r.Kind != "file" || r.Node != "nfs2" || r.Cause != "local-change" ||
			r.Size != int64(len(want)) || len(r.BLAKE3) != 64 || r.Reason == "" {
			t.Errorf("%s: record %+v", p, r)
		}
		if !strings.HasPrefix(r.KeptAt, stateDir+string(filepath.Separator)) {
			t.Errorf("%s: kept at %q, not under the state dir %q", p, r.KeptAt, stateDir)
		}
		to := filepath.Join(restoreDir, strings.ReplaceAll(p, "/", "_"))
		c.mustCLI("conflicts", "restore", r.ID, "--to", to, "--config", c.node("nfs2").cfgPath)
		if got, err := os.ReadFile(to); err != nil || string(got) != string(want) {
			t.Errorf("%s: restored %q (%v), want %q", p, got, err, want)
		}
		// Never over an existing file.
		if _, _, code, err := cli(context.Background(), "conflicts", "restore", r.ID, "--to", to, "--config", c.node("nfs2").cfgPath); err != nil || code == 0 {
			t.Errorf("%s: restore over an existing file: exit %d, %v", p, code, err)
		}
	}
	if st := c.mustStatus("nfs2"); len(st.Folders) != 1 || st.Folders[0].LocalChanges != 3 {
		t.Fatalf("status folders %+v, want 3 local changes", st.Folders)
	}
	out := c.mustCLI("status", "--socket", c.node("nfs2").socket)
	if !strings.Contains(out, "LOCAL CHANGES folder data: 3") {
		t.Errorf("status does not report the local changes:\n%s", out)
	}

	// The count comes from the store: it survives a restart.
	c.stop("nfs2")
	c.start("nfs2")
	if st := c.mustStatus("nfs2"); st.Folders[0].LocalChanges != 3 {
		t.Fatalf("after restart: %d local changes, want 3", st.Folders[0].LocalChanges)
	}
	c.requireEqual("nfs2")
}
