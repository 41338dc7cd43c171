package control

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/report"
)

// barrierNode is a fake primary: its barriers report progress once, then
// wait for release (if set) and return outcome or err.
type barrierNode struct {
	fakeNode
	progress report.BarrierProgress
	outcome  report.BarrierProgress
	err      error
	release  chan struct{}
	got      chan BarrierRequest
}

func (n *barrierNode) Barrier(ctx context.Context, req BarrierRequest, progress func(report.BarrierProgress)) (report.BarrierProgress, error) {
	if n.got != nil {
		n.got <- req
	}
	if n.progress.Peers != nil {
		progress(n.progress)
	}
	if n.release != nil {
		select {
		case <-n.release:
		case <-ctx.Done():
			return report.BarrierProgress{}, ctx.Err()
		}
	}
	if n.err != nil {
		return report.BarrierProgress{}, n.err
	}
	if n.outcome.Done {
		return n.outcome, nil
	}
	return report.BarrierProgress{Done: true, Reached: true, Message: "reached"}, nil
}

// serve runs a control server for node on a fresh socket and returns a
// client connected to it.
func serve(t *testing.T, node Node) *Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.sock")
	lis, err := Listen(path, Groups{})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(node, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestBarrierRoundTrip(t *testing.T) {
	progress := report.BarrierProgress{
		Target: []report.Position{{Folder: "data", Seq: 150}, {Folder: "webroot", Seq: 20}},
		Peers: []report.BarrierPeer{
			{Node: "nfs2", Connected: true, Reached: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 150}, {Folder: "webroot", AckedSeq: 20}}},
			{Node: "nfs3", Message: "disconnected", Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 120, LagEntries: 30, LagBytes: 4096, LagAtLeast: true}, {Folder: "webroot", AckedSeq: 20}}},
		},
	}
	timedOut := progress
	timedOut.Done, timedOut.Message = true, "barrier not reached within 1s: nfs3 ..."
	node := &barrierNode{progress: progress, outcome: timedOut, got: make(chan BarrierRequest, 1)}
	c := serve(t, node)
	var seen []report.BarrierProgress
	req := BarrierRequest{Peers: []string{"nfs2", "nfs3"}, Timeout: 90 * time.Second, Verify: true}
	res, err := c.Barrier(context.Background(), req, func(p report.BarrierProgress) { seen = append(seen, p) })
	if err != nil {
		t.Fatal(err)
	}
	if got := <-node.got; !reflect.DeepEqual(got, req) {
		t.Errorf("node got request %+v, want %+v", got, req)
	}
	if len(seen) != 1 || !reflect.DeepEqual(seen[0], progress) {
		t.Errorf("progress %+v,\nwant %+v", seen, progress)
	}
	if !reflect.DeepEqual(res, timedOut) {
		t.Errorf("outcome %+v,\nwant %+v", res, timedOut)
	}
}

func TestBarrierErrors(t *testing.T) {
	t.Run("node error", func(t *testing.T) {
		c := serve(t, &barrierNode{err: errors.New(`barrier: peer "nfs9": not a configured secondary: the configured secondaries are ["nfs2"]`)})
		_, err := c.Barrier(context.Background(), BarrierRequest{Peers: []string{"nfs9"}}, nil)
		if err == nil || !strings.Contains(err.Error(), `the configured secondaries are ["nfs2"]`) {
			t.Fatalf("got %v, want the node's message", err)
		}
	})
	t.Run("not a primary", func(t *testing.T) {
		c := serve(t, fakeNode{})
		_, err := c.Barrier(context.Background(), BarrierRequest{}, nil)
		if err == nil || !strings.Contains(err.Error(), "run `ncsync barrier` on the primary") {
			t.Fatalf("got %v, want advice to run it on the primary", err)
		}
	})
}

// TestBarrierInStatus: status lists a barrier while it waits, and no
// longer once it returned.
func TestBarrierInStatus(t *testing.T) {
	node := &barrierNode{release: make(chan struct{}),
		progress: report.BarrierProgress{Target: []report.Position{{Folder: "data", Seq: 7}}, Peers: []report.BarrierPeer{{Node: "nfs2"}}}}
	c := serve(t, node)
	ctx := context.Background()
	got := make(chan report.BarrierProgress, 1)
	done := make(chan error, 1)
	go func() {
		_, err := c.Barrier(ctx, BarrierRequest{}, func(p report.BarrierProgress) { got <- p })
		done <- err
	}()
	<-got
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Barriers) != 1 {
		t.Fatalf("status lists barriers %+v, want one", st.Barriers)
	}
	b := st.Barriers[0]
	if b.ID == "" || !reflect.DeepEqual(b.Peers, []string{"nfs2"}) || !reflect.DeepEqual(b.Target, []report.Position{{Folder: "data", Seq: 7}}) ||
		time.Since(b.Since) > time.Minute {
		t.Errorf("barrier in status %+v", b)
	}
	close(node.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx); err != nil || len(st.Barriers) != 0 {
		t.Fatalf("after the barrier: %+v, %v; want no barriers", st.Barriers, err)
	}
}
