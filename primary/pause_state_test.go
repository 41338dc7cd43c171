package primary

import (
	"context"
	"testing"
	"time"

	"github.com/ncsync/ncsync/transport"
)

// servePeer runs a session of nfs2 that acknowledges every batch as
// applied and passes on the PauseStates it is sent. It ends with the test.
func servePeer(t *testing.T, p *Primary) <-chan transport.PauseState {
	t.Helper()
	h := transport.Hello{ClusterID: "c1", Node: "nfs2", Positions: map[string]uint64{"data": 0}}
	if _, err := p.Welcome(context.Background(), transport.Peer{Node: "nfs2"}, h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	states := make(chan transport.PauseState, 16)
	replies := make(chan transport.Reply, 64)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		p.Serve(ctx, transport.Peer{Node: "nfs2"}, h, func(m transport.Message) error {
			switch m := m.(type) {
			case transport.Batch:
				replies <- transport.Ack{Folder: m.Folder, Seq: m.Entries[len(m.Entries)-1].Seq}
			case transport.PauseState:
				states <- m
			}
			return nil
		}, replies)
	}()
	t.Cleanup(func() { cancel(); <-ended })
	return states
}

func nextState(t *testing.T, states <-chan transport.PauseState) transport.PauseState {
	t.Helper()
	select {
	case ps := <-states:
		return ps
	case <-time.After(10 * time.Second):
		t.Fatal("no pause state sent")
		return transport.PauseState{}
	}
}

// TestPauseStateTold: a secondary is told when a pause holds it, with the
// pause's id, start and hold point, when it ends, and at the start of a
// session while it holds.
func TestPauseStateTold(t *testing.T) {
	p, _ := newTestPrimary(t, map[string]string{"a.txt": "a", "b.txt": "b"}, "nfs2")
	states := servePeer(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pa, err := p.Pause(ctx, "nfs2", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got := nextState(t, states)
	if !got.Paused || got.ID != pa.ID || !got.Since.Equal(pa.Since) || !got.Expires.Equal(pa.Expires) || got.Hold["data"] != pa.Hold["data"] || pa.Hold["data"] == 0 {
		t.Fatalf("told %+v of pause %+v", got, pa)
	}
	// A session that starts while the pause holds is told at once.
	if again := nextState(t, servePeer(t, p)); again.ID != pa.ID {
		t.Errorf("a new session was told %+v, want pause %s", again, pa.ID)
	}

	if _, err := p.Resume(ctx, "nfs2"); err != nil {
		t.Fatal(err)
	}
	if got := nextState(t, states); got.Paused || got.ID != "" {
		t.Errorf("after resume told %+v, want not paused", got)
	}
}
