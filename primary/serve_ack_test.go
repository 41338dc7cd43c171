package primary

import (
	"context"
	"testing"
	"time"

	"github.com/ncsync/ncsync/transport"
)

// An ack's processed point moves the send window, and only its sequence
// moves what the primary counts as the peer's durable position (barriers,
// pauses, lag): a secondary that skipped an entry whose chunks were gone
// keeps receiving, and the newer version of that path reaches it.
func TestServeWindowByProcessed(t *testing.T) {
	p, _ := newTestPrimary(t, map[string]string{"a.txt": "a", "b.txt": "b", "c.txt": "c"}, "nfs2")
	p.opts.Window, p.opts.BatchEntries = 1, 1
	sp := serveTestPeer(t, p)
	defer sp.stop()
	first := sp.next(t)
	select {
	case b := <-sp.sent:
		t.Fatalf("a second batch (seq %d) was sent with a window of one and nothing acknowledged", b.Entries[0].Seq)
	case <-time.After(50 * time.Millisecond):
	}
	// The first entry was skipped: durable position 0, processed past it.
	sp.acks <- transport.Ack{Folder: "data", Seq: 0, Processed: first.Entries[len(first.Entries)-1].Seq}
	second := sp.next(t)
	if second.Entries[0].Seq <= first.Entries[len(first.Entries)-1].Seq {
		t.Fatalf("second batch starts at %d, after %d", second.Entries[0].Seq, first.Entries[len(first.Entries)-1].Seq)
	}
	sp.acks <- transport.Ack{Folder: "data", Seq: 0, Processed: second.Entries[len(second.Entries)-1].Seq}
	sp.next(t)
	got, err := p.db.PeerAcks("nfs2")
	if err != nil {
		t.Fatal(err)
	}
	if got["data"] != 0 {
		t.Errorf("the peer's recorded position is %d, want 0: it processed entries but holds none durably past the skip", got["data"])
	}
	ps := p.peer("nfs2")
	ps.mu.Lock()
	acked := ps.acked["data"]
	ps.mu.Unlock()
	if acked != 0 {
		t.Errorf("the peer's acknowledged position is %d, want 0", acked)
	}
}

// servedPeer is a simulated secondary "nfs2" served by a Primary.
type servedPeer struct {
	sent <-chan transport.Batch // the batches sent to it
	acks chan<- transport.Reply // its replies
	stop func()                 // ends the session
}

// serveTestPeer serves p's folder "data" to a simulated secondary "nfs2"
// at position 0.
func serveTestPeer(t *testing.T, p *Primary) *servedPeer {
	t.Helper()
	h := transport.Hello{ClusterID: "c1", Node: "nfs2", Positions: map[string]uint64{"data": 0}}
	if _, err := p.Welcome(context.Background(), transport.Peer{Node: "nfs2"}, h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan transport.Batch, 16)
	replies := make(chan transport.Reply)
	ended := make(chan error, 1)
	go func() {
		ended <- p.Serve(ctx, transport.Peer{Node: "nfs2"}, h, func(m transport.Message) error { sent <- m.(transport.Batch); return nil }, replies)
	}()
	return &servedPeer{sent: sent, acks: replies, stop: func() { cancel(); <-ended }}
}

// next returns the next batch sent, failing the test after 10 s.
func (sp *servedPeer) next(t *testing.T) transport.Batch {
	t.Helper()
	select {
	case b := <-sp.sent:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no batch sent")
		return transport.Batch{}
	}
}
