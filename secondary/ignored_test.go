package secondary_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestIgnoredHere: entries for paths that match the secondary's own ignore
// patterns (here the Nextcloud defaults: nextcloud.log, */uploads/) are
// refused and reported in the ack, the local files stay as they are, and
// status counts them; the rest of the batch is applied.
func TestIgnoredHere(t *testing.T) {
	env := newCraftedEnv(t, craftedEnvOptions{})
	for _, p := range []string{"nextcloud.log", "alice/uploads/part-1"} {
		if err := os.MkdirAll(filepath.Join(env.root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(env.root, p), []byte("this node's own"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env.nextHello(t)
	log := newCraftedFile(t, "nextcloud.log", 1, craftedData(1, 3000), 0o644, false)
	log.register(env.primary)
	ok := newCraftedFile(t, "ok.txt", 3, craftedData(2, 3000), 0o644, false)
	ok.register(env.primary)
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 3, Entries: []*ncsyncv1.Entry{
		log.entry, tombstone("alice/uploads/part-1", 2, ncsyncv1.EntryType_ENTRY_TYPE_FILE), ok.entry}})
	a := env.nextAck(t)
	if a.GetSequence() != 3 || len(a.GetFailures()) != 2 {
		t.Fatalf("Ack seq %d failures %v, want 3 and two failures", a.GetSequence(), a.GetFailures())
	}
	for _, p := range []string{"nextcloud.log", "alice/uploads/part-1"} {
		if b, err := os.ReadFile(filepath.Join(env.root, p)); err != nil || string(b) != "this node's own" {
			t.Errorf("%s: %q, %v; want this node's own content", p, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(env.root, "ok.txt")); err != nil {
		t.Errorf("ok.txt: %v", err)
	}
	st, err := env.sec.Status(context.Background())
	if err != nil || len(st.Folders) != 1 || st.Folders[0].IgnoredHere != 2 {
		t.Errorf("status %+v, %v: want 2 ignored here", st.Folders, err)
	}
	// The counters of the metrics: ok.txt applied, its chunks fetched; the
	// two others refused.
	if f := st.Folders[0]; f.EntriesApplied != 1 || f.BytesApplied != 3000 || f.EntriesRefused != 2 ||
		f.ChunkBytesFetched != 3000 || f.ChunkBytesReused != 0 {
		t.Errorf("applied %d (%d bytes), refused %d, chunk bytes fetched %d, reused %d; want 1 (3000), 2, 3000, 0",
			f.EntriesApplied, f.BytesApplied, f.EntriesRefused, f.ChunkBytesFetched, f.ChunkBytesReused)
	}
}
