package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
)

func TestHandshakeOK(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	want := Welcome{
		ClusterID: p.cluster, Node: "p1", Epoch: 7,
		Folders: map[string]uint64{"webroot": 10, "data": 0},
		Lineage: []index.EpochMark{{Epoch: 6, Node: "p0", StartedNs: 5}, {Epoch: 7, Node: "p1", Start: map[string]uint64{"webroot": 3}, StartedNs: -1}},
	}
	src.welcome = func(Peer, Hello) (Welcome, error) { return want, nil }
	_, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})

	hello := Hello{ClusterID: p.cluster, Node: "s1", Epoch: 7,
		Positions:   map[string]uint64{"webroot": 4},
		Lineage:     []index.EpochMark{{Epoch: 7, Node: "p1", Start: map[string]uint64{"webroot": 3, "data": 1}}},
		ChunkDeltas: true}
	sess, got, err := c.Sync(context.Background(), hello)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	want.Heartbeat = DefaultIdleTimeout / 4 // filled in by the Server: the Hello announced heartbeats
	want.ChunkPatches = true                // likewise: it answers bases with patches
	if !reflect.DeepEqual(got, want) {
		t.Errorf("welcome = %+v, want %+v", got, want)
	}
	hello.Role = pki.RoleSecondary           // filled in by Sync
	hello.Heartbeat = DefaultIdleTimeout / 4 // likewise
	if len(src.hellos) != 1 || !reflect.DeepEqual(src.hellos[0], hello) {
		t.Errorf("source got hellos %+v, want %+v", src.hellos, hello)
	}
	peer := src.peers[0]
	if peer.Node != "s1" || peer.ClusterID != p.cluster || peer.Role != pki.RoleSecondary || !strings.HasPrefix(peer.Addr, "127.0.0.1:") {
		t.Errorf("peer = %+v", peer)
	}

	// Acks reach the source unchanged.
	ack := Ack{Folder: "webroot", Seq: 9, Failures: []Failure{{Path: "a/b", Seq: 8, Message: "permission denied"}}}
	if err := sess.Ack(ack); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-src.gotReplies:
		if !reflect.DeepEqual(a, ack) {
			t.Errorf("ack = %+v, want %+v", a, ack)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ack did not arrive")
	}

	// TreeHash round-trips, and a Source refusal reaches the client.
	src.tree[0] = 0xab
	h, n, seq, err := c.TreeHash(context.Background(), "webroot")
	if err != nil || h != src.tree || n != 42 || seq != 7 {
		t.Errorf("TreeHash = %v %d %d %v", h, n, seq, err)
	}
	_, _, _, err = c.TreeHash(context.Background(), "nope")
	var r *Refusal
	if !errors.As(err, &r) || !errors.Is(err, ErrRefused) || r.Msg != "no folder nope" {
		t.Errorf("TreeHash(nope) error = %v", err)
	}
}

func TestHandshakeRefused(t *testing.T) {
	p := cluster(t)
	p.issue(t, "s2", pki.RoleSecondary)
	p.issue(t, "p2", pki.RolePrimary)
	other := newPKI(t)
	other.issue(t, "s1", pki.RoleSecondary)
	other.issue(t, "p1", pki.RolePrimary)

	refusing := newFakeSource()
	refusing.welcome = func(peer Peer, h Hello) (Welcome, error) {
		return Welcome{}, Refuse(ErrStaleEpoch, `node "s1" is not a secondary of this primary`)
	}
	noCert := p.clientTLS(t, "s1")
	noCert.Certificates = nil
	foreignCert := p.clientTLS(t, "s1") // trusts our CA, presents another's cert
	fc, err := tls.LoadX509KeyPair(other.dir+"/s1.pem", other.dir+"/s1.key")
	if err != nil {
		t.Fatal(err)
	}
	foreignCert.Certificates = []tls.Certificate{fc}

	tests := []struct {
		name      string
		serverTLS *tls.Config
		clientTLS *tls.Config
		src       *fakeSource
		hello     Hello
		want      []string // substrings of the client's error
		wantErr   error    // the refusal
		check     func(t *testing.T, err error)
	}{{
		name:      "welcome refusal",
		serverTLS: p.serverTLS(t, "p1"), clientTLS: p.clientTLS(t, "s1"), src: refusing,
		want:    []string{`node "s1" is not a secondary of this primary`},
		wantErr: ErrStaleEpoch,
	}, {
		name:      "server with a secondary certificate",
		serverTLS: p.serverTLS(t, "s2"), clientTLS: p.clientTLS(t, "s1"),
		want: []string{`server "s2" presents a secondary certificate; refusing to follow it`},
		check: func(t *testing.T, err error) {
			if !errors.Is(err, pki.ErrWrongRole) {
				t.Errorf("error does not wrap pki.ErrWrongRole: %v", err)
			}
		},
	}, {
		name:      "client with a primary certificate",
		serverTLS: p.serverTLS(t, "p1"), clientTLS: p.clientTLS(t, "p2"),
		hello: Hello{Node: "p2"},
		want:  []string{`peer "p2" has role primary; only secondaries may connect`},
		// Not a Refusal of the Source but the same reason.
		wantErr: ErrNotMember,
	}, {
		name:      "client without a certificate",
		serverTLS: p.serverTLS(t, "p1"), clientTLS: noCert,
		want: []string{"the primary rejected this node's certificate"},
	}, {
		name:      "client with another cluster's certificate",
		serverTLS: p.serverTLS(t, "p1"), clientTLS: foreignCert,
		want: []string{"the primary rejected this node's certificate"},
	}, {
		name:      "server of another cluster",
		serverTLS: other.serverTLS(t, "p1"), clientTLS: p.clientTLS(t, "s1"),
		want: []string{"not signed by this cluster's CA"},
	}, {
		name:      "hello with another cluster id",
		serverTLS: p.serverTLS(t, "p1"), clientTLS: p.clientTLS(t, "s1"),
		hello:   Hello{ClusterID: "0123456789abcdef0123456789abcdef"},
		want:    []string{`hello names cluster "0123456789abcdef0123456789abcdef"`},
		wantErr: ErrNotMember,
	}, {
		name:      "hello with another node name",
		serverTLS: p.serverTLS(t, "p1"), clientTLS: p.clientTLS(t, "s1"),
		hello:   Hello{Node: "s2"},
		want:    []string{`hello names node "s2", but the certificate is for node "s1"`},
		wantErr: ErrNotMember,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == nil {
				src = newFakeSource()
			}
			_, addr := startServer(t, tt.serverTLS, Limits{}, src)
			c := dial(t, addr, tt.clientTLS, Limits{})
			h := tt.hello
			if h.ClusterID == "" {
				h.ClusterID = p.cluster
			}
			if h.Node == "" {
				h.Node = "s1"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sess, _, err := c.Sync(ctx, h)
			if err == nil {
				sess.Close()
				t.Fatal("Sync succeeded")
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.wantErr != nil {
				var r *Refusal
				if !errors.As(err, &r) || !errors.Is(err, tt.wantErr) {
					t.Errorf("error is not a Refusal for %v: %#v", tt.wantErr, err)
				}
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			if tt.wantErr == nil && len(src.hellos) != 0 {
				t.Errorf("source saw a hello: %+v", src.hellos)
			}
		})
	}
}
