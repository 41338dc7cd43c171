package secondary_test

import (
	"strings"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestRefusedEntriesRecorded: an entry the secondary refuses is recorded
// in its index (so `ncsync promote` names it, also after a restart) until
// a later version of the path is stored.
func TestRefusedEntriesRecorded(t *testing.T) {
	env := newCraftedEnv(t, craftedEnvOptions{})
	p := env.primary
	env.nextHello(t)

	want, got := craftedData(3, 4096), craftedData(4, 4096)
	id := chunker.Sum(want)
	p.serve(id, &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: 4096, Data: got})
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 2,
		Entries: []*ncsyncv1.Entry{dirEntry("keep", 1, 0o755), oneChunkFile("keep/bad.txt", 2, id, 4096)}})
	if a := env.nextAck(t); a.GetSequence() != 2 || len(a.GetFailures()) != 1 {
		t.Fatalf("Ack seq %d failures %v, want 2 and one failure", a.GetSequence(), a.GetFailures())
	}
	refused, err := env.db.Refused()
	if err != nil || len(refused) != 1 || refused[0].Folder != craftedFolder || refused[0].Path != "keep/bad.txt" ||
		refused[0].Seq != 2 || !strings.Contains(refused[0].Msg, "does not hash to its id") {
		t.Fatalf("recorded refusals %+v, %v; want keep/bad.txt at 2", refused, err)
	}
	items, err := env.sec.Unsettled()
	if err != nil || len(items) != 1 || !strings.Contains(items[0], `"keep/bad.txt" (seq 2) was refused`) {
		t.Fatalf("Unsettled = %q, %v", items, err)
	}

	// A later, good version of the path settles it.
	f := newCraftedFile(t, "keep/bad.txt", 3, craftedData(5, 2000), 0o644, false)
	f.register(p)
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 3, Entries: []*ncsyncv1.Entry{f.entry}})
	if a := env.nextAck(t); a.GetSequence() != 3 || len(a.GetFailures()) != 0 {
		t.Fatalf("Ack seq %d failures %v, want 3 and none", a.GetSequence(), a.GetFailures())
	}
	if items, err := env.sec.Unsettled(); err != nil || len(items) != 0 {
		t.Errorf("Unsettled after the path was stored = %q, %v; want nothing", items, err)
	}
}
