package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadCRL(t *testing.T, c cluster) *Revocations {
	t.Helper()
	ca, _, _ := c.files("nfs1")
	r, err := LoadRevocations(filepath.Join(c.dir, CRLName), ca)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRevokedRefusedAtHandshake: a certificate on the revocation list is
// refused at the handshake by either side: a primary refuses a revoked
// secondary, a secondary a revoked primary.
func TestRevokedRefusedAtHandshake(t *testing.T) {
	c := newCluster(t)
	if err := Issue(c.dir, "nfs3", RoleSecondary); err != nil {
		t.Fatal(err)
	}
	if _, err := Revoke(c.dir, big.NewInt(1)); err != nil { // some other certificate: the list exists
		t.Fatal(err)
	}
	rev := loadCRL(t, c)
	server, err := c.revoking("nfs1", rev)
	if err != nil {
		t.Fatal(err)
	}
	client, err := c.revoking("nfs2", rev)
	if err != nil {
		t.Fatal(err)
	}
	if srv, cli := handshake(t, server, client, ""); srv.err != nil || cli.err != nil {
		t.Fatalf("before any revocation: server %v, client %v", srv.err, cli.err)
	}

	// The secondary's certificate is revoked: the primary refuses it,
	// once the list in use is reloaded (SIGHUP).
	r, err := RevokeNode(c.dir, "nfs2")
	if err != nil || r.Node != "nfs2" || r.Already {
		t.Fatalf("RevokeNode: %+v, %v", r, err)
	}
	if err := rev.Reload(); err != nil {
		t.Fatal(err)
	}
	srv, _ := handshake(t, server, client, "")
	if !errors.Is(srv.err, ErrRevoked) || !strings.Contains(srv.err.Error(), `the certificate of node "nfs2"`) {
		t.Errorf("server accepted a revoked client: %v", srv.err)
	}
	// Another secondary still connects.
	other, err := c.revoking("nfs3", rev)
	if err != nil {
		t.Fatal(err)
	}
	if srv, cli := handshake(t, server, other, ""); srv.err != nil || cli.err != nil {
		t.Fatalf("a secondary that is not revoked: server %v, client %v", srv.err, cli.err)
	}

	// The primary's certificate is revoked: the secondary refuses it.
	if _, err := RevokeNode(c.dir, "nfs1"); err != nil {
		t.Fatal(err)
	}
	if err := rev.Reload(); err != nil {
		t.Fatal(err)
	}
	_, cli := handshake(t, c.server(t), other, "")
	if !errors.Is(cli.err, ErrRevoked) || !strings.Contains(cli.err.Error(), `the certificate of node "nfs1"`) {
		t.Errorf("client accepted a revoked server: %v", cli.err)
	}
	// A node whose own certificate is revoked does not start.
	if _, err := c.revoking("nfs1", rev); !errors.Is(err, ErrRevoked) {
		t.Errorf("ServerTLS with its own certificate revoked: %v", err)
	}
}

// revoking returns node's TLS configuration (ServerTLS for the primary
// nfs1, ClientTLS for the others) checking rev.
func (c cluster) revoking(node string, rev *Revocations) (*tls.Config, error) {
	ca, cert, key := c.files(node)
	tlsFor := ClientTLS
	if node == "nfs1" {
		tlsFor = ServerTLS
	}
	conf, _, err := tlsFor(ca, cert, key, WithRevocations(rev))
	return conf, err
}

// TestRevokeList: each revocation keeps the serials listed before, raises
// the list's number and is signed by the CA; a list signed by another CA,
// or an older list, is not taken on reload.
func TestRevokeList(t *testing.T) {
	c := newCluster(t)
	for _, n := range []int64{5, 6} {
		if _, err := Revoke(c.dir, big.NewInt(n)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Revoke(c.dir, big.NewInt(5))
	if err != nil || !r.Already {
		t.Fatalf("revoking a listed serial again: %+v, %v", r, err)
	}
	if _, err := Revoke(c.dir, big.NewInt(0)); err == nil {
		t.Error("revoked serial 0")
	}
	if _, err := RevokeNode(c.dir, "nope"); err == nil {
		t.Error("revoked a node without a certificate")
	}
	ca, _, _ := c.files("nfs1")
	path := filepath.Join(c.dir, CRLName)
	l, err := readCRL(path, mustCA(t, ca))
	if err != nil {
		t.Fatal(err)
	}
	if l.Number.Int64() != 2 || len(l.RevokedCertificateEntries) != 2 {
		t.Fatalf("list number %v with %d entries, want 2 and 2", l.Number, len(l.RevokedCertificateEntries))
	}
	rev := loadCRL(t, c)
	if rev.Len() != 2 {
		t.Fatalf("loaded %d serials", rev.Len())
	}

	// An older list (a stale copy) is not taken; the one in use stays.
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Revoke(c.dir, big.NewInt(7)); err != nil {
		t.Fatal(err)
	}
	if err := rev.Reload(); err != nil || rev.Len() != 3 {
		t.Fatalf("reload: %v, %d serials", err, rev.Len())
	}
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rev.Reload(); err == nil || rev.Len() != 3 {
		t.Errorf("reload of an older list: %v, %d serials in use", err, rev.Len())
	}

	// A list of another CA is refused.
	other := newCluster(t)
	if _, err := Revoke(other.dir, big.NewInt(9)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRevocations(filepath.Join(other.dir, CRLName), ca); err == nil || !strings.Contains(err.Error(), "not signed by the cluster CA") {
		t.Errorf("a list of another CA: %v", err)
	}
}

func mustCA(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	ca, _, err := loadCACert(file)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestExposedKey: a key readable by group or others is reported.
func TestExposedKey(t *testing.T) {
	c := newCluster(t)
	_, _, key := c.files("nfs1")
	if msg, err := ExposedKey(key); err != nil || msg != "" {
		t.Fatalf("a 0600 key: %q, %v", msg, err)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := ExposedKey(key); err != nil || !strings.Contains(msg, "mode 0644") {
		t.Fatalf("a 0644 key: %q, %v", msg, err)
	}
}
