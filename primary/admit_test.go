package primary

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/transport"
)

// TestAdmit: only the configured secondaries may call the primary, as
// configured now: a node removed while the primary runs is refused, and a
// session it had running ends.
func TestAdmit(t *testing.T) {
	p, _ := newTestPrimary(t, nil, "nfs2", "nfs3")
	for node, ok := range map[string]bool{"nfs2": true, "nfs3": true, "nfs4": false} {
		if err := p.Admit(transport.Peer{Node: node}); (err == nil) != ok {
			t.Errorf("Admit(%s) = %v, want admitted %v", node, err, ok)
		}
	}

	ended := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replies := make(chan transport.Reply)
	go func() {
		h := transport.Hello{ClusterID: "c1", Node: "nfs3", Positions: map[string]uint64{"data": 0}}
		ended <- p.Serve(ctx, transport.Peer{Node: "nfs3"}, h, func(transport.Message) error { return nil }, replies)
	}()
	waitConnected(t, p, "nfs3")

	p.SetSecondaries([]string{"nfs2"})
	err := p.Admit(transport.Peer{Node: "nfs3"})
	var r *transport.Refusal
	if !errors.As(err, &r) || !errors.Is(err, transport.ErrNotMember) || !strings.Contains(r.Msg, `node "nfs3" is not one of this primary's secondaries ["nfs2"]`) {
		t.Errorf("Admit of a removed node: %v", err)
	}
	select {
	case err := <-ended:
		if !errors.As(err, &r) || !errors.Is(err, transport.ErrNotMember) {
			t.Errorf("the removed node's session ended with %v, want its refusal", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the removed node's session goes on")
	}
	if got := p.Secondaries(); len(got) != 1 || got[0] != "nfs2" {
		t.Errorf("Secondaries() = %q", got)
	}
}

func waitConnected(t *testing.T, p *Primary, node string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ps := p.peer(node)
		ps.mu.Lock()
		n := ps.sessions
		ps.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never connected", node)
}
