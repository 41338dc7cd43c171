package transport

import (
	"maps"
	"testing"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
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
		if !p.Stage || p.HeldAt != 4 {
			t.Errorf("part of a staged batch arrived with stage %v held at %d", p.Stage, p.HeldAt)
		}
	}
}
