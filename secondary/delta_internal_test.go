package secondary

import (
	"fmt"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// recentLists keeps large lists only, the newest of each path, and at most
// recentRefs refs in all, dropping the oldest first.
func TestRecentLists(t *testing.T) {
	list := func(n int, salt byte) []index.ChunkRef {
		out := make([]index.ChunkRef, n)
		for i := range out {
			out[i] = index.ChunkRef{ID: chunker.ID{salt, byte(i), byte(i >> 8)}, Size: 1}
		}
		return out
	}
	var r recentLists
	r.put("small", list(index.PriorMinChunks-1, 1))
	if _, ok := r.get("small"); ok {
		t.Error("kept a small list")
	}
	per := recentRefs / 4
	for i := range 4 {
		r.put(fmt.Sprint("f", i), list(per, byte(i)))
	}
	r.put("f0", list(per, 9)) // the newest of f0, now the youngest
	if l, ok := r.get("f0"); !ok || l[0].ID[0] != 9 {
		t.Fatalf("f0: %v, want the newest list", ok)
	}
	r.put("f4", list(per, 4)) // evicts f1, the oldest
	if _, ok := r.get("f1"); ok {
		t.Error("kept f1 past the bound")
	}
	for _, p := range []string{"f0", "f2", "f3", "f4"} {
		if _, ok := r.get(p); !ok {
			t.Errorf("dropped %s", p)
		}
	}
	if r.refs > recentRefs {
		t.Errorf("%d refs kept, over %d", r.refs, recentRefs)
	}
	r.put("huge", list(recentRefs+1, 5))
	if _, ok := r.get("huge"); ok {
		t.Error("kept a list larger than the bound")
	}
	r.begin()
	if _, ok := r.get("f4"); ok || r.refs != 0 {
		t.Error("a new session kept lists")
	}
}
