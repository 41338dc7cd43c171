package transport

import (
	"maps"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestStageFieldsRoundTrip checks that what a paused secondary and its
// primary tell each other about staging survives the wire.
func TestStageFieldsRoundTrip(t *testing.T) {
	h := Hello{ClusterID: "c", Node: "s1", Role: pki.RoleSecondary, Positions: map[string]uint64{"data": 5},
		Staged: map[string]uint64{"data": 9, "webroot": 3}, StagedBytes: 1234, StageLimit: 1 << 30}
	ph, err := helloToWire(h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := helloFromWire(ph)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got.Staged, h.Staged) || got.StagedBytes != h.StagedBytes || got.StageLimit != h.StageLimit {
		t.Errorf("hello staged %v %d %d, want %v %d %d", got.Staged, got.StagedBytes, got.StageLimit, h.Staged, h.StagedBytes, h.StageLimit)
	}
	a := Ack{Folder: "data", Seq: 9, Staged: true, StagedBytes: 77}
	ga, err := ackFromWire(ackToWire(a), DefaultLimits())
	if err != nil || !ga.Staged || ga.StagedBytes != 77 || ga.Seq != 9 {
		t.Errorf("ack %+v (%v), want %+v", ga, err, a)
	}

	lim := DefaultLimits()
	lim.MaxBatchEntries = 1 // one message per entry: every part must carry the flag
	b := Batch{Folder: "f", Stage: true, HeldAt: 4, Head: 10, Entries: []index.Entry{fileEntry("a", 1, 1, 1), fileEntry("b", 2, 1, 1)}}
	parts, err := assemble(lim, collect(t, b, lim))
	if err != nil || len(parts) != 2 {
		t.Fatalf("%d parts, %v", len(parts), err)
	}
	for _, p := range parts {
		if !p.Stage || p.HeldAt != 4 || p.ApplyStaged {
			t.Errorf("part of a staged batch arrived with stage %v held at %d apply %v", p.Stage, p.HeldAt, p.ApplyStaged)
		}
	}
	marker := Batch{Folder: "f", ApplyStaged: true, Head: 10}
	parts, err = assemble(lim, collect(t, marker, lim))
	if err != nil || len(parts) != 1 || !parts[0].ApplyStaged || len(parts[0].Entries) != 0 {
		t.Fatalf("marker arrived as %+v, %v", parts, err)
	}

	q := Batch{Folder: "f", TreeHashQuery: 42}
	parts, err = assemble(lim, collect(t, q, lim))
	if err != nil || len(parts) != 1 || parts[0].TreeHashQuery != 42 || len(parts[0].Entries) != 0 {
		t.Fatalf("query arrived as %+v, %v", parts, err)
	}
	rep := Ack{Folder: "f", TreeHash: &TreeHashReport{Query: 42, Seq: 7, Hash: chunker.Sum([]byte("t")), Entries: 3}}
	if ga, err := ackFromWire(ackToWire(rep), lim); err != nil || ga.TreeHash == nil || *ga.TreeHash != *rep.TreeHash {
		t.Errorf("tree hash report arrived as %+v, %v", ga.TreeHash, err)
	}
	failed := Ack{Folder: "f", TreeHash: &TreeHashReport{Query: 42, Error: "no index"}}
	if ga, err := ackFromWire(ackToWire(failed), lim); err != nil || ga.TreeHash == nil || ga.TreeHash.Error != "no index" {
		t.Errorf("failed report arrived as %+v, %v", ga.TreeHash, err)
	}
	short := ackToWire(rep)
	short.TreeHash.Hash = short.TreeHash.Hash[:5]
	if _, err := ackFromWire(short, lim); err == nil {
		t.Error("a report with a short hash was accepted")
	}

	bad := Batch{Folder: "f", ApplyStaged: true, Entries: b.Entries}
	if err := splitBatch(&bad, lim, func(*ncsyncv1.SyncResponse) error { return nil }); err == nil {
		t.Error("a marker with entries was sent")
	}
	a2 := assembler{lim: lim}
	if _, err := a2.start(&ncsyncv1.EntryBatch{FolderId: "f", ApplyStaged: true, Stage: true}); err == nil {
		t.Error("a staged marker was accepted")
	}
}
