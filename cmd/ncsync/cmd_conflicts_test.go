package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/preserve"
)

// readConflicts lists the stores of cfg as `ncsync conflicts` does
// without a daemon.
func readConflicts(cfg *config.Config) ([]preserve.Record, error) {
	stores, err := openConflictStores(cfg)
	defer closeStores(stores)
	if err != nil {
		return nil, err
	}
	return preserve.ListAll(stores)
}

func TestConflictsListAndRestore(t *testing.T) {
	cfg := &config.Config{StateDir: t.TempDir(), Folders: []config.Folder{{ID: "data", Path: t.TempDir()}, {ID: "web", Path: t.TempDir()}}}
	dir := conflictDir(cfg)
	if recs, err := readConflicts(cfg); err != nil || len(recs) != 0 {
		t.Fatalf("missing store: %v, %v", recs, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("listing created the store")
	}
	st, err := preserve.Open(dir, preserve.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A folder on another file system than state_dir keeps its own store.
	own, err := preserve.OpenInFolder(cfg.Folders[1].Path, preserve.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "a"), []byte("local edit"), 0o640); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(tree)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec, err := st.SaveAt(context.Background(), preserve.Item{Folder: "data", Path: "x/a", Epoch: 1, Node: "nfs2",
		Cause: preserve.CauseLocalChange, Reason: "edited"}, int(d.Fd()), "a")
	if err != nil {
		t.Fatal(err)
	}

	recOwn, err := own.SaveAt(context.Background(), preserve.Item{Folder: "web", Path: "y/a", Epoch: 1, Node: "nfs2",
		Cause: preserve.CauseLocalChange, Reason: "edited"}, int(d.Fd()), "a")
	if err != nil {
		t.Fatal(err)
	}

	recs, err := readConflicts(cfg)
	if err != nil || len(recs) != 2 {
		t.Fatalf("read: %v, %v", recs, err)
	}
	if recs[1].ID == rec.ID {
		recs[0], recs[1] = recs[1], recs[0]
	}
	if recs[0].ID != rec.ID || recs[1].ID != recOwn.ID || recs[1].KeptAt != filepath.Join(cfg.Folders[1].Path, preserve.FolderStoreName, string(recOwn.ID), "data") {
		t.Fatalf("listed %+v, want %s and %s", recs, rec.ID, recOwn.ID)
	}
	recs = recs[:1]
	var text bytes.Buffer
	printConflicts(&text, recs)
	for _, want := range []string{string(rec.ID), `"x/a"`, "folder data", "nfs2", "epoch 1", "local-change", rec.HashHex(), rec.KeptAt} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := printConflictsJSON(&js, recs); err != nil {
		t.Fatal(err)
	}
	var parsed []conflictJSON
	if err := json.Unmarshal(js.Bytes(), &parsed); err != nil || len(parsed) != 1 ||
		parsed[0].ID != string(rec.ID) || parsed[0].BLAKE3 != rec.HashHex() || parsed[0].Size != 10 || parsed[0].Mode != "0640" {
		t.Fatalf("json %s: %v", js.String(), err)
	}

	for _, id := range []preserve.ID{rec.ID, recOwn.ID} {
		to := filepath.Join(t.TempDir(), "restored")
		if _, err := restoreConflict(context.Background(), cfg, id, to); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(to); err != nil || string(got) != "local edit" {
			t.Fatalf("restored %q, %v", got, err)
		}
		if _, err := restoreConflict(context.Background(), cfg, id, to); !errors.Is(err, preserve.ErrExists) {
			t.Fatalf("restore over a file: %v", err)
		}
	}
	if _, err := restoreConflict(context.Background(), cfg, "20200101-000000-00000000", filepath.Join(t.TempDir(), "x")); !errors.Is(err, preserve.ErrNotFound) {
		t.Fatalf("restore of an unknown id: %v", err)
	}
}
