package transport

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestOrdersRoundTrip: each order and question of the primary travels as a
// message of its own and arrives as it was sent.
func TestOrdersRoundTrip(t *testing.T) {
	lim := DefaultLimits()
	for _, m := range []Message{
		ApplyStaged{Folder: "f"},
		TreeHashQuery{Folder: "f", ID: 42},
		VerifyQuery{Folder: "f", ID: 9, Paths: []string{"a", "b/c"}, Ignore: []string{"/x.log"}},
		VerifyQuery{Folder: "f", ID: 10},
		PauseState{Paused: true, ID: "0a1b2c3d4e5f", Since: time.Unix(1_700_000_000, 5), Expires: time.Unix(1_700_007_200, 5),
			Hold: map[string]uint64{"f": 7, "g": 0}},
		PauseState{Paused: true, ID: "p", Since: time.Unix(1, 0), Expires: time.Unix(1, 0)},
		PauseState{},
	} {
		msgs := collect(t, m, lim)
		if len(msgs) != 1 || msgs[0].GetBatch() != nil {
			t.Fatalf("%T sent as %v", m, msgs)
		}
		got, err := decode(lim, msgs)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], m) {
			t.Errorf("%+v arrived as %+v, %v", m, got, err)
		}
	}
}

// TestOrdersRefused: orders and questions without their folder or id are
// neither sent nor accepted, and none may come between a batch and the
// chunk lists that complete it.
func TestOrdersRefused(t *testing.T) {
	lim := DefaultLimits()
	since := time.Unix(1_700_000_000, 0)
	for _, m := range []Message{ApplyStaged{}, TreeHashQuery{Folder: "f"}, TreeHashQuery{ID: 1}, VerifyQuery{Folder: "f"}, VerifyQuery{ID: 1},
		PauseState{Paused: true, Since: since, Expires: since},                            // no id
		PauseState{Paused: true, ID: "p", Expires: since},                                 // no start
		PauseState{Paused: true, ID: "p", Since: since, Expires: since.Add(-time.Second)}, // ends before it began
		PauseState{ID: "p"}, PauseState{Hold: map[string]uint64{"f": 1}}, PauseState{Since: since}, // not paused, yet a pause
	} {
		if err := sendMessage(m, lim, func(*ncsyncv1.SyncResponse) error { return nil }); err == nil {
			t.Errorf("sent %+v", m)
		}
	}
	for name, m := range map[string]*ncsyncv1.SyncResponse{
		"apply staged without folder":    {Msg: &ncsyncv1.SyncResponse_ApplyStaged{ApplyStaged: &ncsyncv1.ApplyStaged{}}},
		"tree hash query without id":     {Msg: &ncsyncv1.SyncResponse_TreeHashQuery{TreeHashQuery: &ncsyncv1.TreeHashQuery{FolderId: "f"}}},
		"tree hash query without folder": {Msg: &ncsyncv1.SyncResponse_TreeHashQuery{TreeHashQuery: &ncsyncv1.TreeHashQuery{Id: 3}}},
		"verify without id":              {Msg: &ncsyncv1.SyncResponse_Verify{Verify: &ncsyncv1.VerifyQuery{FolderId: "f", Paths: []string{"a"}}}},
		"verify without folder":          {Msg: &ncsyncv1.SyncResponse_Verify{Verify: &ncsyncv1.VerifyQuery{Id: 1}}},
		"verify of an absolute path":     {Msg: &ncsyncv1.SyncResponse_Verify{Verify: &ncsyncv1.VerifyQuery{FolderId: "f", Id: 1, Paths: []string{"/etc"}}}},
		"verify of dot-dot":              {Msg: &ncsyncv1.SyncResponse_Verify{Verify: &ncsyncv1.VerifyQuery{FolderId: "f", Id: 1, Paths: []string{"a/../../etc"}}}},
		"verify of the root as path":     {Msg: &ncsyncv1.SyncResponse_Verify{Verify: &ncsyncv1.VerifyQuery{FolderId: "f", Id: 1, Paths: []string{""}}}},
		"pause without id":               pauseMsg(&ncsyncv1.PauseState{Paused: true, SinceUnixNs: 1, ExpiresUnixNs: 2}),
		"pause with an overlong id":      pauseMsg(&ncsyncv1.PauseState{Paused: true, Id: strings.Repeat("a", maxPauseIDLen+1), SinceUnixNs: 1, ExpiresUnixNs: 2}),
		"pause without start":            pauseMsg(&ncsyncv1.PauseState{Paused: true, Id: "p", ExpiresUnixNs: 2}),
		"pause with a negative start":    pauseMsg(&ncsyncv1.PauseState{Paused: true, Id: "p", SinceUnixNs: -5, ExpiresUnixNs: 2}),
		"pause ending before its start":  pauseMsg(&ncsyncv1.PauseState{Paused: true, Id: "p", SinceUnixNs: 3, ExpiresUnixNs: 2}),
		"pause holding no folder":        pauseMsg(&ncsyncv1.PauseState{Paused: true, Id: "p", SinceUnixNs: 1, ExpiresUnixNs: 2, Hold: []*ncsyncv1.FolderPosition{{Sequence: 1}}}),
		"pause holding a folder twice": pauseMsg(&ncsyncv1.PauseState{Paused: true, Id: "p", SinceUnixNs: 1, ExpiresUnixNs: 2,
			Hold: []*ncsyncv1.FolderPosition{{FolderId: "f", Sequence: 1}, {FolderId: "f", Sequence: 2}}}),
		"end of a pause naming one": pauseMsg(&ncsyncv1.PauseState{Id: "p"}),
		"end of a pause with holds": pauseMsg(&ncsyncv1.PauseState{Hold: []*ncsyncv1.FolderPosition{{FolderId: "f", Sequence: 1}}}),
	} {
		if got, err := decode(lim, []*ncsyncv1.SyncResponse{m}); err == nil {
			t.Errorf("%s: accepted as %+v", name, got)
		}
	}
	// Protocol 1's flags on a batch: an apply-staged marker, a query or a
	// verify request dressed as a batch (with entries or without).
	entries := collect(t, Batch{Folder: "f", Entries: []index.Entry{fileEntry("a", 1, 1, 1)}}, lim)[0].GetBatch()
	for name, tamper := range map[string]func(*ncsyncv1.EntryBatch){
		"apply_staged":    func(b *ncsyncv1.EntryBatch) { b.ApplyStaged = true },
		"tree_hash_query": func(b *ncsyncv1.EntryBatch) { b.TreeHashQuery = 7 },
		"verify":          func(b *ncsyncv1.EntryBatch) { b.Verify = &ncsyncv1.VerifyQuery{Id: 1} },
	} {
		for _, base := range []*ncsyncv1.EntryBatch{{FolderId: "f"}, entries} {
			pb := &ncsyncv1.EntryBatch{FolderId: base.FolderId, Entries: base.Entries}
			tamper(pb)
			_, err := decode(lim, []*ncsyncv1.SyncResponse{{Msg: &ncsyncv1.SyncResponse_Batch{Batch: pb}}})
			if err == nil || !strings.Contains(err.Error(), "protocol 1") {
				t.Errorf("a batch with %s and %d entries: %v", name, len(pb.Entries), err)
			}
		}
	}
	// An order inside a batch whose chunk list is not complete.
	small := lim
	small.MaxMessageBytes = minMessageBytes
	split := collect(t, Batch{Folder: "f", Entries: []index.Entry{fileEntry("big", 1, small.refsPerMessage()+2, 1)}}, small)
	if len(split) < 2 {
		t.Fatalf("the big file took %d messages", len(split))
	}
	mixed := append([]*ncsyncv1.SyncResponse{split[0]}, collect(t, ApplyStaged{Folder: "f"}, small)...)
	if _, err := decode(small, append(mixed, split[1:]...)); err == nil || !strings.Contains(err.Error(), "still awaits chunks") {
		t.Errorf("an order inside a batch: %v", err)
	}
}

func pauseMsg(ps *ncsyncv1.PauseState) *ncsyncv1.SyncResponse {
	return &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_PauseState{PauseState: ps}}
}

// TestRepliesRoundTrip: acks and tree hash reports of the secondary travel
// as messages of their own; malformed ones are refused.
func TestRepliesRoundTrip(t *testing.T) {
	lim := DefaultLimits()
	ok := TreeHashReport{Folder: "f", Query: 42, Seq: 7, Hash: chunker.Sum([]byte("t")), Entries: 3}
	failed := TreeHashReport{Folder: "f", Query: 43, Seq: 7, Error: "no index"}
	ack := Ack{Folder: "f", Seq: 9, Failures: []Failure{{Path: "x", Seq: 8, Message: "m"}}}
	for _, want := range []Reply{ok, failed, ack} {
		var m *ncsyncv1.SyncRequest
		switch r := want.(type) {
		case TreeHashReport:
			var err error
			if m, err = treeHashReportToWire(r); err != nil {
				t.Fatal(err)
			}
		case Ack:
			m = &ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_Ack{Ack: ackToWire(r)}}
		}
		got, err := replyFromWire(m, lim)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%+v arrived as %+v, %v", want, got, err)
		}
	}
	if _, err := treeHashReportToWire(TreeHashReport{Query: 1}); err == nil {
		t.Error("sent a report without a folder")
	}
	short, _ := treeHashReportToWire(ok)
	short.GetTreeHash().Hash = short.GetTreeHash().Hash[:5]
	for name, m := range map[string]*ncsyncv1.SyncRequest{
		"short hash":       short,
		"no query":         {Msg: &ncsyncv1.SyncRequest_TreeHash{TreeHash: &ncsyncv1.TreeHashReport{FolderId: "f", Error: "x"}}},
		"no folder":        {Msg: &ncsyncv1.SyncRequest_TreeHash{TreeHash: &ncsyncv1.TreeHashReport{Query: 1, Error: "x"}}},
		"report in an ack": {Msg: &ncsyncv1.SyncRequest_Ack{Ack: &ncsyncv1.Ack{FolderId: "f", TreeHash: &ncsyncv1.TreeHashReport{Query: 1, Error: "x"}}}},
		"a second hello":   {Msg: &ncsyncv1.SyncRequest_Hello{Hello: &ncsyncv1.Hello{}}},
		"nothing":          {},
	} {
		if got, err := replyFromWire(m, lim); err == nil {
			t.Errorf("%s: accepted as %+v", name, got)
		}
	}
	if r, err := replyFromWire(&ncsyncv1.SyncRequest{Msg: &ncsyncv1.SyncRequest_Heartbeat{Heartbeat: &ncsyncv1.Heartbeat{}}}, lim); r != nil || err != nil {
		t.Errorf("heartbeat: %+v, %v", r, err)
	}
}
