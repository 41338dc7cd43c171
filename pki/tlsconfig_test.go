package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cluster is a CA directory with a primary "nfs1" and a secondary "nfs2".
type cluster struct {
	dir, id string
}

func newCluster(t *testing.T) cluster {
	t.Helper()
	dir := t.TempDir()
	id, err := InitCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Issue(dir, "nfs1", RolePrimary); err != nil {
		t.Fatal(err)
	}
	if err := Issue(dir, "nfs2", RoleSecondary); err != nil {
		t.Fatal(err)
	}
	return cluster{dir: dir, id: id}
}

func (c cluster) files(node string) (ca, cert, key string) {
	return filepath.Join(c.dir, "ca.pem"), filepath.Join(c.dir, node+".pem"), filepath.Join(c.dir, node+".key")
}

func (c cluster) server(t *testing.T) *tls.Config {
	t.Helper()
	cfg, id, err := ServerTLS(c.files("nfs1"))
	if err != nil {
		t.Fatal(err)
	}
	if id != (Identity{ClusterID: c.id, Node: "nfs1", Role: RolePrimary}) {
		t.Fatalf("ServerTLS identity %+v", id)
	}
	return cfg
}

func (c cluster) client(t *testing.T) *tls.Config {
	t.Helper()
	cfg, id, err := ClientTLS(c.files("nfs2"))
	if err != nil {
		t.Fatal(err)
	}
	if id != (Identity{ClusterID: c.id, Node: "nfs2", Role: RoleSecondary}) {
		t.Fatalf("ClientTLS identity %+v", id)
	}
	return cfg
}

// rawClient presents node's certificate without verifying the server, as
// an attacker or a misconfigured peer would.
func (c cluster) rawClient(t *testing.T, node string) *tls.Config {
	t.Helper()
	_, certFile, keyFile := c.files(node)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, Certificates: []tls.Certificate{pair}}
}

type result struct {
	err   error
	state tls.ConnectionState
}

// handshake connects a client to a server over loopback TCP and returns
// what each side saw. The client dials addr with serverName, so tests can
// show that host names do not matter.
func handshake(t *testing.T, server, client *tls.Config, serverName string) (srv, cli result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		raw, err := ln.Accept()
		if err != nil {
			srv.err = err
			return
		}
		conn := tls.Server(raw, server)
		defer conn.Close()
		if srv.err = conn.HandshakeContext(ctx); srv.err != nil {
			return
		}
		srv.state = conn.ConnectionState()
		_, srv.err = conn.Write([]byte{1})
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client = client.Clone()
	client.ServerName = serverName
	conn := tls.Client(raw, client)
	cli.err = conn.HandshakeContext(ctx)
	if cli.err == nil {
		cli.state = conn.ConnectionState()
		// In TLS 1.3 the server judges the client after the client's
		// handshake is done: a refusal arrives as an alert here.
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, cli.err = conn.Read(make([]byte, 1))
	}
	conn.Close()
	wg.Wait()
	return srv, cli
}

func TestHandshake(t *testing.T) {
	c := newCluster(t)
	for _, name := range []string{"", "localhost", "nfs1", "some.other.name", "192.0.2.1"} {
		t.Run("servername="+name, func(t *testing.T) {
			srv, cli := handshake(t, c.server(t), c.client(t), name)
			if srv.err != nil || cli.err != nil {
				t.Fatalf("server: %v; client: %v", srv.err, cli.err)
			}
			if srv.state.Version != tls.VersionTLS13 {
				t.Errorf("version %x", srv.state.Version)
			}
			got, err := PeerIdentity(srv.state)
			if err != nil || got != (Identity{ClusterID: c.id, Node: "nfs2", Role: RoleSecondary}) {
				t.Errorf("server sees %+v, %v", got, err)
			}
			if err := RequireRole(got, RoleSecondary); err != nil {
				t.Error(err)
			}
			got, err = PeerIdentity(cli.state)
			if err != nil || got != (Identity{ClusterID: c.id, Node: "nfs1", Role: RolePrimary}) {
				t.Errorf("client sees %+v, %v", got, err)
			}
			if err := RequireRole(got, RolePrimary); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestHandshakeFailures(t *testing.T) {
	c, other := newCluster(t), newCluster(t)

	// A certificate signed by c's CA that claims another cluster: only
	// possible with c's CA key, but it must still be refused.
	if err := issueForeign(c, other.id, "rogue"); err != nil {
		t.Fatal(err)
	}
	// An expired certificate from c's CA.
	if err := issue(c.dir, "old", RoleSecondary, IssueOptions{Validity: time.Hour}, time.Now().Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	tls12 := c.client(t)
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12

	for _, tc := range []struct {
		name           string
		server, client *tls.Config
		side           string // which side must report wantErr
		want           error
		wantErr        string
	}{
		{
			name:   "client without certificate",
			server: c.server(t), client: &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true},
			side: "server", want: ErrNoCertificate, wantErr: "peer presented no client certificate",
		},
		{
			name:   "client certificate from another CA",
			server: c.server(t), client: other.rawClient(t, "nfs2"),
			side: "server", want: ErrUnknownAuthority, wantErr: "certificate is not signed by this cluster's CA",
		},
		{
			name:   "server certificate from another CA",
			server: other.server(t), client: c.client(t),
			side: "client", want: ErrUnknownAuthority, wantErr: "certificate is not signed by this cluster's CA",
		},
		{
			name:   "client certificate for another cluster",
			server: c.server(t), client: c.rawClient(t, "rogue"),
			side: "server", want: ErrWrongCluster,
			wantErr: `certificate of node "rogue" is for cluster ` + other.id + ", not " + c.id,
		},
		{
			name:   "expired client certificate",
			server: c.server(t), client: c.rawClient(t, "old"),
			side: "server", want: ErrBadCertificate, wantErr: "is not valid now",
		},
		{
			name:   "TLS 1.2",
			server: c.server(t), client: tls12,
			side: "client", wantErr: "protocol version",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := handshake(t, tc.server, tc.client, "")
			r := srv
			if tc.side == "client" {
				r = cli
			}
			if r.err == nil || !strings.Contains(r.err.Error(), tc.wantErr) {
				t.Fatalf("%s error %v, want %q (server: %v; client: %v)", tc.side, r.err, tc.wantErr, srv.err, cli.err)
			}
			if tc.want != nil && !errors.Is(r.err, tc.want) {
				t.Fatalf("%v is not %v", r.err, tc.want)
			}
			if srv.err == nil || cli.err == nil {
				t.Fatalf("a side succeeded: server %v, client %v", srv.err, cli.err)
			}
		})
	}
}

// issueForeign writes dir/node.{pem,key}, signed by c's CA but naming
// cluster foreignID.
func issueForeign(c cluster, foreignID, node string) error {
	ca, caKey, _, err := loadCAPair(c.dir)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := signPeer(ca, caKey, Identity{ClusterID: foreignID, Node: node, Role: RoleSecondary}, &key.PublicKey, IssueOptions{}, time.Now())
	if err != nil {
		return err
	}
	return writePair(c.dir, filepath.Join(c.dir, node+".pem"), filepath.Join(c.dir, node+".key"), der, key)
}

func TestLoadErrors(t *testing.T) {
	c, other := newCluster(t), newCluster(t)
	if err := issueForeign(c, other.id, "rogue"); err != nil {
		t.Fatal(err)
	}
	ca, cert, key := c.files("nfs1")
	_, otherCert, otherKey := other.files("nfs1")
	_, _, key2 := c.files("nfs2")
	_, rogueCert, rogueKey := c.files("rogue")
	for _, tc := range []struct {
		name, ca, cert, key, want string
	}{
		{"missing CA", filepath.Join(c.dir, "nope.pem"), cert, key, "read CA certificate"},
		{"peer cert as CA", cert, cert, key, "not a CA certificate"},
		{"cert of another cluster", ca, otherCert, otherKey, "not signed by this cluster's CA"},
		{"cert naming another cluster", ca, rogueCert, rogueKey, "is for cluster"},
		{"key does not match", ca, cert, key2, "load certificate"},
		{"missing key", ca, cert, filepath.Join(c.dir, "nope.key"), "load certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for side, fn := range map[string]func(string, string, string, ...Option) (*tls.Config, Identity, error){"server": ServerTLS, "client": ClientTLS} {
				_, _, err := fn(tc.ca, tc.cert, tc.key)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v, want error containing %q", side, err, tc.want)
				}
			}
		})
	}
}

func TestPeerIdentityIncomplete(t *testing.T) {
	if _, err := PeerIdentity(tls.ConnectionState{}); err == nil {
		t.Fatal("PeerIdentity of an unfinished handshake succeeded")
	}
	if _, err := PeerIdentity(tls.ConnectionState{HandshakeComplete: true}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("PeerIdentity without certificates: %v", err)
	}
}
