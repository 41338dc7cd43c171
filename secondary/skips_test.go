package secondary

import (
	"fmt"
	"testing"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
)

// The durable position stays below the oldest skipped entry until an
// entry with a higher sequence replaces its path: a newer version, a
// deletion, a refusal, or a parent deleted or turned into a file. A
// directory entry for a parent replaces nothing beneath it.
func TestSkipsNote(t *testing.T) {
	gone := apply.Result{Err: fmt.Errorf("chunk x: %w", errChunkGone)}
	ok := apply.Result{}
	refused := apply.Result{Err: &apply.RefusedError{Path: "d/a", Reason: "bad"}}
	file := func(p string, seq uint64) index.Entry { return index.Entry{Path: p, Seq: seq, Kind: index.KindFile} }
	dir := func(p string, seq uint64) index.Entry { return index.Entry{Path: p, Seq: seq, Kind: index.KindDir} }
	gonePath := func(p string, seq uint64, k index.Kind) index.Entry {
		return index.Entry{Path: p, Seq: seq, Kind: k, Deleted: true}
	}
	type step struct {
		es      []index.Entry
		rs      []apply.Result
		durable uint64
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"no skip", []step{{[]index.Entry{file("a", 3), file("b", 4)}, []apply.Result{ok, ok}, 4}}},
		{"newer version applied", []step{
			{[]index.Entry{file("a", 3), file("d/a", 4), file("b", 5)}, []apply.Result{ok, gone, ok}, 3},
			{[]index.Entry{file("c", 6)}, []apply.Result{ok}, 3},
			{[]index.Entry{file("d/a", 7)}, []apply.Result{ok}, 7},
		}},
		{"newer version skipped too", []step{
			{[]index.Entry{file("d/a", 4)}, []apply.Result{gone}, 3},
			{[]index.Entry{file("d/a", 6)}, []apply.Result{gone}, 3},
			{[]index.Entry{file("d/a", 8)}, []apply.Result{ok}, 8},
		}},
		{"same entry applied when sent again", []step{
			{[]index.Entry{file("d/a", 4), file("b", 5)}, []apply.Result{gone, ok}, 3},
			{[]index.Entry{file("d/a", 4)}, []apply.Result{ok}, 5},
		}},
		{"two skips, oldest first", []step{
			{[]index.Entry{file("x", 4), file("y", 5), file("z", 6)}, []apply.Result{gone, gone, ok}, 3},
			{[]index.Entry{file("x", 7)}, []apply.Result{ok}, 4},
			{[]index.Entry{file("y", 8)}, []apply.Result{ok}, 8},
		}},
		{"refused newer version", []step{
			{[]index.Entry{file("d/a", 4)}, []apply.Result{gone}, 3},
			{[]index.Entry{file("d/a", 5)}, []apply.Result{refused}, 5},
		}},
		{"deleted", []step{
			{[]index.Entry{file("d/a", 4)}, []apply.Result{gone}, 3},
			{[]index.Entry{gonePath("d/a", 5, index.KindFile)}, []apply.Result{ok}, 5},
		}},
		{"parent deleted", []step{
			{[]index.Entry{file("d/a", 4)}, []apply.Result{gone}, 3},
			{[]index.Entry{gonePath("d", 5, index.KindDir)}, []apply.Result{ok}, 5},
		}},
		{"parent became a file", []step{
			{[]index.Entry{file("d/a", 4)}, []apply.Result{gone}, 3},
			{[]index.Entry{file("d", 5)}, []apply.Result{ok}, 5},
		}},
		{"parent directory changed", []step{
			{[]index.Entry{file("d/a", 4)}, []apply.Result{gone}, 3},
			{[]index.Entry{dir("d", 5)}, []apply.Result{ok}, 3},
		}},
		{"sibling with a common prefix", []step{
			{[]index.Entry{file("d/a", 4)}, []apply.Result{gone}, 3},
			{[]index.Entry{gonePath("d/ab", 6, index.KindFile), file("d/a/x", 7)},
				[]apply.Result{ok, ok}, 3},
		}},
		{"an older entry does not clear a newer skip", []step{
			{[]index.Entry{file("d/a", 4), file("d/a", 5)}, []apply.Result{ok, gone}, 4},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k skips
			k.begin()
			pos := uint64(2)
			for i, st := range tc.steps {
				d, commit := k.note(st.es, st.rs, pos)
				commit()
				if d != st.durable {
					t.Fatalf("step %d: durable %d, want %d", i, d, st.durable)
				}
				pos = d
			}
		})
	}
}

// A skip is logged once per path, across sessions, until it clears; a
// session's start forgets the pending skips (they are sent again) and the
// processed point. What was noted counts only once committed (recorded in
// the index).
func TestSkipsLogOnceAndBegin(t *testing.T) {
	gone := apply.Result{Err: errChunkGone}
	var k skips
	note := func(e index.Entry, r apply.Result, pos uint64) (uint64, []string, bool) {
		d, commit := k.note([]index.Entry{e}, []apply.Result{r}, pos)
		logged, cleared := commit()
		return d, logged, cleared
	}
	a := index.Entry{Path: "a", Seq: 5, Kind: index.KindFile}
	if d, _ := k.note([]index.Entry{a}, []apply.Result{gone}, 4); d != 4 || k.processedTo(4) != 4 {
		t.Fatalf("not committed: durable %d, processed %d; want 4 and nothing noted", d, k.processedTo(4))
	}
	if _, ok := k.oldest(); ok {
		t.Fatal("a skip noted but not committed is pending")
	}
	if _, logged, _ := note(a, gone, 4); len(logged) != 1 {
		t.Fatalf("first skip logged %v, want a", logged)
	}
	if k.processedTo(4) != 5 {
		t.Fatalf("processed %d, want 5", k.processedTo(4))
	}
	k.begin()
	if p, ok := k.oldest(); ok || k.processedTo(4) != 4 {
		t.Fatalf("after begin: pending %q %v, processed %d; want none and 4", p, ok, k.processedTo(4))
	}
	if _, logged, _ := note(a, gone, 4); len(logged) != 0 {
		t.Fatalf("the same skip in a new session logged %v, want nothing", logged)
	}
	a.Seq = 6
	if d, _, cleared := note(a, apply.Result{}, 4); d != 6 || !cleared {
		t.Fatalf("newer version: durable %d cleared %v, want 6 true", d, cleared)
	}
	a.Seq = 7
	if _, logged, _ := note(a, gone, 6); len(logged) != 1 {
		t.Fatalf("a new skip after one cleared logged %v, want a", logged)
	}
}

// The retry wait starts at the minimum, doubles up to the maximum, and
// starts again after a reset.
func TestSkipRetryBackoff(t *testing.T) {
	var r skipRetry
	lo, hi := time.Second, 30*time.Second
	var got []time.Duration
	for range 7 {
		got = append(got, r.next(lo))
		r.grow(hi)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("waits %v, want %v seconds", got, want)
		}
	}
	r.reset()
	if w := r.next(lo); w != lo {
		t.Fatalf("after a reset: %v, want %v", w, lo)
	}
}
