package secondary_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// An entry whose chunks the primary no longer holds (its file changed
// again) is skipped, but the position acknowledged and recorded as durable
// never covers it while this node holds the path's older content: only
// the processed point moves past it, until the newer entry is applied. A
// new session asks again from below it; the entries after it that were
// applied already are not fetched again.
func TestSkippedEntryHoldsAck(t *testing.T) {
	env := newCraftedEnv(t, craftedEnvOptions{SkipRetryMin: time.Hour})
	p := env.primary
	env.nextHello(t)

	v1 := newCraftedFile(t, "a.txt", 1, craftedData(1, 1000), 0o644, false)
	v1.register(p)
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 1, Entries: []*ncsyncv1.Entry{v1.entry}})
	if a := env.nextAck(t); a.GetSequence() != 1 {
		t.Fatalf("ack of the first version: seq %d, want 1", a.GetSequence())
	}

	// Version 2 of a.txt is gone from the primary (not registered).
	v2 := newCraftedFile(t, "a.txt", 2, craftedData(2, 1000), 0o644, false)
	b := newCraftedFile(t, "b.txt", 3, craftedData(3, 2000), 0o644, false)
	b.register(p)
	c := newCraftedFile(t, "c.txt", 4, craftedData(4, 500), 0o644, false)
	c.register(p)
	batch2 := &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 3, Entries: []*ncsyncv1.Entry{v2.entry, b.entry}}
	env.send(t, batch2)
	checkAck := func(what string, seq, processed uint64) {
		t.Helper()
		a := env.nextAck(t)
		if a.GetSequence() != seq || a.GetProcessed() != processed || len(a.GetFailures()) != 0 {
			t.Fatalf("ack %s: seq %d processed %d failures %v, want seq %d processed %d", what,
				a.GetSequence(), a.GetProcessed(), a.GetFailures(), seq, processed)
		}
		if pos := env.position(t); pos != seq {
			t.Fatalf("position %s: %d, want %d", what, pos, seq)
		}
	}
	checkAck("after the skip", 1, 3)
	checkFile(t, filepath.Join(env.root, "a.txt"), v1.data, 0o644, v1.entry.MtimeNs)
	checkFile(t, filepath.Join(env.root, "b.txt"), b.data, 0o644, b.entry.MtimeNs)
	if _, _, seq := env.status(t); seq != 1 {
		t.Errorf("status seq %d, want 1", seq)
	}

	// Still pending: more entries move the processed point only.
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 4, Entries: []*ncsyncv1.Entry{c.entry}})
	checkAck("with the skip pending", 1, 4)

	// A new session resumes from the durable position: the primary sends
	// the skipped entry and what followed again; what was applied is not
	// fetched again, and a replay check does not refuse it.
	env.kickSession(t)
	h := env.nextHello(t)
	if ps := h.GetPositions(); len(ps) != 1 || ps[0].GetSequence() != 1 {
		t.Fatalf("Hello after the skip: positions %v, want %s at 1", ps, craftedFolder)
	}
	env.send(t, batch2)
	checkAck("resent, still gone", 1, 3)
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 4, Entries: []*ncsyncv1.Entry{c.entry}})
	checkAck("resent, still pending", 1, 4)
	for _, id := range append(b.ids, c.ids...) {
		if n := p.servedCount(id); n != 1 {
			t.Errorf("chunk %s of an entry applied already was served %d times, want 1", id, n)
		}
	}

	// The newer version arrives: the position jumps to what was processed.
	v3 := newCraftedFile(t, "a.txt", 5, craftedData(5, 1500), 0o600, false)
	v3.register(p)
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 5, Entries: []*ncsyncv1.Entry{v3.entry}})
	checkAck("after the newer version", 5, 0)
	checkFile(t, filepath.Join(env.root, "a.txt"), v3.data, 0o600, v3.entry.MtimeNs)
}

// A skip that nothing supersedes (the file changed back, so no newer entry
// comes) is asked for again by ending the session once everything received
// was processed, with backoff; it is logged once, not at every retry.
func TestSkippedEntryRetried(t *testing.T) {
	var env *craftedEnv
	f := newCraftedFile(t, "a.txt", 1, craftedData(7, 3000), 0o644, false)
	env = newCraftedEnv(t, craftedEnvOptions{SkipRetryMin: 20 * time.Millisecond, SkipRetryMax: 40 * time.Millisecond,
		Script: func(env *craftedEnv) craftedScript {
			return func(h *ncsyncv1.Hello) (*ncsyncv1.Welcome, []*ncsyncv1.SyncResponse) {
				w, _ := env.welcome(1, env.cluster)(h)
				var then []*ncsyncv1.SyncResponse
				if ps := h.GetPositions(); len(ps) == 1 && ps[0].GetSequence() == 0 {
					then = append(then, &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Batch{Batch: &ncsyncv1.EntryBatch{
						FolderId: craftedFolder, HeadSequence: 1, Entries: []*ncsyncv1.Entry{f.entry}}}})
				}
				return w, then
			}
		}})
	for range 3 {
		env.nextHello(t)
		if a := env.nextAck(t); a.GetSequence() != 0 || a.GetProcessed() != 1 {
			t.Fatalf("ack of a skipped entry: seq %d processed %d, want 0 and 1", a.GetSequence(), a.GetProcessed())
		}
		if e := env.sessionEnded(t); !strings.Contains(e, "a.txt") {
			t.Fatalf("session ended with %q, want the skipped path named", e)
		}
	}
	// The primary's file holds that version again.
	f.register(env.primary)
	env.nextHello(t)
	for {
		a := env.nextAck(t)
		if a.GetSequence() == 1 {
			break
		}
	}
	checkFile(t, filepath.Join(env.root, "a.txt"), f.data, 0o644, f.entry.MtimeNs)
	env.log.mu.Lock()
	n := 0
	for _, l := range env.log.lines {
		if strings.Contains(l, "skipped an entry") {
			n++
		}
	}
	env.log.mu.Unlock()
	if n != 1 {
		t.Errorf("the skip was logged %d times, want once", n)
	}
}
