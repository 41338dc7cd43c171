package primary

import (
	"context"
	"testing"

	"github.com/ncsync/ncsync/transport"
)

// TestTreeHashAnswerBoundToPeer: a tree hash query is answered only by the
// peer it was sent to, for its folder, with its id; anything else is
// ignored and the query goes on waiting for its own answer.
func TestTreeHashAnswerBoundToPeer(t *testing.T) {
	var q treeQueries
	sent := make(chan transport.Message, 1)
	defer q.attach("nfs2", func(m transport.Message) error { sent <- m; return nil })()
	defer q.attach("nfs3", func(transport.Message) error { return nil })()

	type result struct {
		r   transport.TreeHashReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := q.ask(context.Background(), "nfs2", "data")
		done <- result{r, err}
	}()
	m := <-sent
	b, _ := m.(transport.TreeHashQuery)
	id := b.ID
	if id == 0 || b.Folder != "data" {
		t.Fatalf("query %+v", m)
	}
	for _, tc := range []struct {
		peer, folder string
		query        uint64
	}{
		{"nfs3", "data", id},     // another peer, the right id
		{"nfs2", "data", id + 1}, // the right peer, a wrong id
		{"nfs2", "web", id},      // the right peer and id, another folder
	} {
		if q.answer(tc.peer, transport.TreeHashReport{Folder: tc.folder, Query: tc.query, Seq: 666}) {
			t.Errorf("answer from %s for %s with id %d was taken", tc.peer, tc.folder, tc.query)
		}
	}
	if !q.answer("nfs2", transport.TreeHashReport{Folder: "data", Query: id, Seq: 7}) {
		t.Fatal("the asked peer's answer was ignored")
	}
	if r := <-done; r.err != nil || r.r.Seq != 7 { // not a foreign answer's 666
		t.Fatalf("ask = %+v, %v", r.r, r.err)
	}
}

// TestQueryIDsUnguessable: query ids are random, not a counter.
func TestQueryIDsUnguessable(t *testing.T) {
	seen := map[uint64]bool{}
	var prev uint64
	sequential := 0
	for range 64 {
		id := newQueryID(func(id uint64) bool { return seen[id] })
		if id == 0 || seen[id] {
			t.Fatalf("id %d: zero or repeated", id)
		}
		if id == prev+1 {
			sequential++
		}
		seen[id], prev = true, id
	}
	if sequential > 1 {
		t.Errorf("%d of 64 ids followed their predecessor", sequential)
	}
}
