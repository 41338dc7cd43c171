package primary

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/index"
)

func TestTakeOver(t *testing.T) {
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := TakeOver(db, "s1", []string{"data"}, 0, true); err == nil {
		t.Fatal("took over an index without a cluster")
	}
	if err := db.SetMeta(index.Meta{ClusterID: "c", Node: "s1", Epoch: 1, Lineage: []index.EpochMark{{Epoch: 1, Node: "p"}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update("data", func(tx *index.Tx) error {
		if err := tx.Store(index.Entry{Path: "a", Seq: 7, Kind: index.KindDir, Version: index.Version{Epoch: 1, Node: "p", Seq: 7}}); err != nil {
			return err
		}
		return tx.SetPosition(7)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := TakeOver(db, "s1", []string{"data"}, 3, true); err == nil || !strings.Contains(err.Error(), "confirmed for epoch 3") {
		t.Fatalf("wrong confirmation: %v", err)
	}
	mk, err := TakeOver(db, "s1", []string{"data", "web"}, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if mk.Epoch != 2 || mk.Node != "s1" || mk.Start["data"] != 7 || mk.Start["web"] != 0 {
		t.Errorf("mark = %+v", mk)
	}
	m, _ := db.Meta()
	if m.Epoch != 2 || !m.Promoted || !m.Leads("s1") || len(m.Lineage) != 2 || m.Lineage[0].Node != "p" {
		t.Errorf("meta = %+v", m)
	}
	if _, err := TakeOver(db, "s1", nil, 0, true); err == nil || !strings.Contains(err.Error(), "already the primary of epoch 2") {
		t.Errorf("second take over: %v", err)
	}
	// The journal goes on after Start, stamped with the new term.
	if err := db.Update("data", func(tx *index.Tx) error {
		e, err := tx.Journal(index.Entry{Path: "b", Kind: index.KindDir})
		if err == nil && (e.Seq != 8 || e.Version != (index.Version{Epoch: 2, Node: "s1", Seq: 8})) {
			t.Errorf("journaled %+v", e)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
