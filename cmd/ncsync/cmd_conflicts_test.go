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

	"github.com/ncsync/ncsync/preserve"
)

func TestConflictsListAndRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conflicts")
	if recs, err := readConflicts(dir); err != nil || len(recs) != 0 {
		t.Fatalf("missing store: %v, %v", recs, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("listing created the store")
	}
	st, err := preserve.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
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

	recs, err := readConflicts(dir)
	if err != nil || len(recs) != 1 {
		t.Fatalf("read: %v, %v", recs, err)
	}
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

	to := filepath.Join(t.TempDir(), "restored")
	if _, err := restoreConflict(context.Background(), dir, rec.ID, to); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(to); err != nil || string(got) != "local edit" {
		t.Fatalf("restored %q, %v", got, err)
	}
	if _, err := restoreConflict(context.Background(), dir, rec.ID, to); !errors.Is(err, preserve.ErrExists) {
		t.Fatalf("restore over a file: %v", err)
	}
}
