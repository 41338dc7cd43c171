package transport

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/pki"
)

// TestEveryRPCChecksTheCaller: a node the Source no longer admits (removed
// from the primary's secondaries while the server runs) can call nothing,
// not only Sync: FetchChunks and TreeHash above all, which hand out the
// primary's data.
func TestEveryRPCChecksTheCaller(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	data := []byte("the content of a file on the primary")
	id := chunker.Sum(data)
	src.chunks[id] = data
	var members atomic.Pointer[[]string]
	members.Store(&[]string{"s1"})
	src.admit = func(pe Peer) error {
		if slices.Contains(*members.Load(), pe.Node) {
			return nil
		}
		return Refuse(ErrNotMember, "node %q is not one of this primary's secondaries", pe.Node)
	}
	_, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	ctx := context.Background()

	if _, _, _, err := c.TreeHash(ctx, "webroot"); err != nil {
		t.Fatalf("TreeHash of an admitted node: %v", err)
	}
	if got, err := fetchChunks(ctx, c, id); err != nil || len(got) != 1 || string(got[0].Data) != string(data) {
		t.Fatalf("FetchChunks of an admitted node: %v, %v", got, err)
	}

	members.Store(&[]string{"s2"}) // s1 removed: a config reload
	refused := func(what string, err error) {
		t.Helper()
		var r *Refusal
		if !errors.As(err, &r) || !errors.Is(err, ErrNotMember) || !strings.Contains(r.Msg, `node "s1" is not one of this primary's secondaries`) {
			t.Errorf("%s of a removed node: %v, want a PermissionDenied refusal naming it", what, err)
		}
	}
	_, _, _, err := c.TreeHash(ctx, "webroot")
	refused("TreeHash", err)
	got, err := fetchChunks(ctx, c, id)
	refused("FetchChunks", err)
	if len(got) != 0 {
		t.Errorf("FetchChunks of a removed node returned %d chunks", len(got))
	}
	_, _, err = c.Sync(ctx, Hello{ClusterID: p.cluster, Node: "s1"})
	refused("Sync", err)
	_, err = c.PauseSelf(ctx, time.Minute)
	refused("PauseSelf", err)
}

func fetchChunks(ctx context.Context, c *Client, ids ...chunker.ID) ([]Chunk, error) {
	cs, err := c.FetchChunks(ctx, "webroot", ids)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	return readAll(cs)
}

// TestServerIdentity: a client refuses a server that its check refuses, at
// the handshake; a Welcome that names another node than the server's
// certificate; and, once welcomed, any other node on a reconnect.
func TestServerIdentity(t *testing.T) {
	p := cluster(t)
	p.issue(t, "p2", pki.RolePrimary)
	ctx := context.Background()
	hello := Hello{ClusterID: p.cluster, Node: "s1"}
	follow := func(node string) DialOption {
		return WithServerCheck(func(id pki.Identity) error {
			if id.Node != node {
				return fmt.Errorf("server is %q, not %q", id.Node, node)
			}
			return nil
		})
	}

	t.Run("refused by the check", func(t *testing.T) {
		src := newFakeSource()
		_, addr := startServer(t, p.serverTLS(t, "p2"), Limits{}, src)
		c, err := Dial(ctx, addr, p.clientTLS(t, "s1"), Limits{}, follow("p1"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _, err = c.Sync(ctx, hello)
		if err == nil || !strings.Contains(err.Error(), `server is "p2", not "p1"`) {
			t.Fatalf("Sync with the wrong server: %v", err)
		}
		if len(src.hellos) != 0 {
			t.Errorf("the refused server got %d hellos", len(src.hellos))
		}
	})

	t.Run("welcome claiming another node", func(t *testing.T) {
		src := newFakeSource()
		src.welcome = func(_ Peer, h Hello) (Welcome, error) {
			return Welcome{ClusterID: h.ClusterID, Node: "p1", Epoch: 1}, nil
		}
		_, addr := startServer(t, p.serverTLS(t, "p2"), Limits{}, src)
		c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
		_, _, err := c.Sync(ctx, hello)
		var ie *ImpersonationError
		if !errors.As(err, &ie) || ie.Cert != "p2" || ie.Claimed != "p1" {
			t.Fatalf("Sync with a forged welcome: %v, want an ImpersonationError p2/p1", err)
		}
	})

	t.Run("pinned after the welcome", func(t *testing.T) {
		src := newFakeSource()
		_, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
		c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
		sess, w, err := c.Sync(ctx, hello)
		if err != nil || w.Node != "p1" {
			t.Fatalf("Sync: %+v, %v", w, err)
		}
		sess.Close()
		if err := c.check.verify(pki.Identity{Node: "p2", Role: pki.RolePrimary}); err == nil ||
			!strings.Contains(err.Error(), `this connection follows node "p1"`) {
			t.Fatalf("a reconnect to p2 after p1's welcome: %v, want refused", err)
		}
	})
}

// TestRevokedWhileConnected: once the revocation list is reloaded, a
// secondary whose certificate it lists can make no further RPC on the
// connection it already has, and Recheck ends its running session.
func TestRevokedWhileConnected(t *testing.T) {
	p := cluster(t)
	if _, err := pki.Revoke(p.dir, big.NewInt(1)); err != nil {
		t.Fatal(err)
	}
	ca, cert, key := p.files("p1")
	rev, err := pki.LoadRevocations(filepath.Join(p.dir, pki.CRLName), ca)
	if err != nil {
		t.Fatal(err)
	}
	conf, _, err := pki.ServerTLS(ca, cert, key, pki.WithRevocations(rev))
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource()
	srv, addr := startServer(t, conf, Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	ctx := context.Background()
	sess, _, err := c.Sync(ctx, Hello{ClusterID: p.cluster, Node: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if n := srv.Recheck(); n != 0 {
		t.Fatalf("Recheck ended %d sessions before any revocation", n)
	}

	if _, err := pki.RevokeNode(p.dir, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := rev.Reload(); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = c.TreeHash(ctx, "webroot")
	if err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("TreeHash on the revoked node's open connection: %v", err)
	}
	if n := srv.Recheck(); n != 1 {
		t.Errorf("Recheck ended %d sessions, want the revoked node's", n)
	}
	if _, err := sess.Recv(); err == nil {
		t.Error("the revoked node's session goes on")
	}
}
