package secondary_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestStageRefused: a secondary stages only what it agreed to. A batch
// marked Stage is refused (the session ends, nothing is acknowledged or
// stored) when its stage_limit is 0, when it is not held at the batch's
// hold point (not paused there), and when the batch would take its stage
// past stage_limit; a batch within all three is staged.
func TestStageRefused(t *testing.T) {
	small := func(path string, seq uint64) *craftedFile {
		return newCraftedFile(t, path, seq, craftedData(seq, 2000), 0o644, false)
	}
	for _, tc := range []struct {
		name   string
		limit  int64
		heldAt uint64
		size   int // of the staged file
		want   string
	}{
		{"stage_limit 0", 0, 1, 2000, "does not stage (stage_limit is 0)"},
		{"not paused", 1 << 20, 0, 2000, "holding this node at sequence 0, but it has applied up to 1"},
		{"over stage_limit", 16 << 10, 1, 64 << 10, "more than this node's stage_limit of 16384"},
		{"within", 1 << 20, 1, 2000, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newCraftedEnv(t, craftedEnvOptions{Stage: true, StageLimit: tc.limit})
			env.nextHello(t)
			first := small("first.txt", 1)
			first.register(env.primary)
			env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 1, Entries: []*ncsyncv1.Entry{first.entry}})
			if a := env.nextAck(t); a.GetSequence() != 1 || a.GetStaged() {
				t.Fatalf("Ack seq %d staged %v, want 1 applied", a.GetSequence(), a.GetStaged())
			}
			f := newCraftedFile(t, "staged.txt", 2, craftedData(9, tc.size), 0o644, false)
			f.register(env.primary)
			env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 2, Stage: true, HeldAt: tc.heldAt,
				Entries: []*ncsyncv1.Entry{f.entry}})
			if tc.want == "" {
				if a := env.nextAck(t); a.GetSequence() != 2 || !a.GetStaged() {
					t.Fatalf("Ack seq %d staged %v, want 2 staged", a.GetSequence(), a.GetStaged())
				}
				return
			}
			if why := env.sessionEnded(t); !strings.Contains(why, "refused to stage") || !strings.Contains(why, tc.want) {
				t.Errorf("session ended with %q, want a refusal with %q", why, tc.want)
			}
			env.noAck(t)
			if _, err := os.Stat(filepath.Join(env.root, "staged.txt")); err == nil {
				t.Error("staged.txt was applied")
			}
			packs, _ := filepath.Glob(filepath.Join(env.base, "stage", craftedFolder, "pack-*"))
			if log, err := os.Stat(filepath.Join(env.base, "stage", craftedFolder, "log")); err != nil || log.Size() != 0 || len(packs) != 0 {
				t.Errorf("stage holds a log (%v) and %d packs, want nothing", err, len(packs))
			}
		})
	}
}
