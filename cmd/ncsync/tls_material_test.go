package main

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/pki"
)

// TestReloadCertificate: a certificate renewed over the old files is
// presented from the next handshake on after a reload; one for another
// node is refused and the one in use kept.
func TestReloadCertificate(t *testing.T) {
	ca := t.TempDir()
	if _, err := pki.InitCA(ca); err != nil {
		t.Fatal(err)
	}
	if err := pki.Issue(ca, "nfs1", pki.RolePrimary); err != nil {
		t.Fatal(err)
	}
	files := config.TLS{CA: filepath.Join(ca, "ca.pem"), Cert: filepath.Join(ca, "nfs1.pem"), Key: filepath.Join(ca, "nfs1.key")}
	cfg := &config.Config{Node: "nfs1"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := &tlsMaterial{}
	conf, _, err := loadTLS(cfg, files, pki.RolePrimary, "tls", m, log)
	if err != nil {
		t.Fatal(err)
	}
	presented := func() []byte {
		t.Helper()
		c, err := conf.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil || c == nil {
			t.Fatalf("GetCertificate: %v", err)
		}
		return c.Certificate[0]
	}
	first := presented()
	if err := m.reloadTLS(log); err != nil || string(presented()) != string(first) {
		t.Fatalf("reload of unchanged files: %v, or another certificate presented", err)
	}

	// A renewal (same CA, same node) written over the files.
	renew := func(node string) {
		t.Helper()
		dir := t.TempDir()
		for _, f := range []string{"ca.pem", "ca.key"} {
			b, err := os.ReadFile(filepath.Join(ca, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := pki.Issue(dir, node, pki.RolePrimary); err != nil {
			t.Fatal(err)
		}
		for from, to := range map[string]string{node + ".pem": files.Cert, node + ".key": files.Key} {
			if err := os.Rename(filepath.Join(dir, from), to); err != nil {
				t.Fatal(err)
			}
		}
	}
	renew("nfs1")
	if err := m.reloadTLS(log); err != nil {
		t.Fatal(err)
	}
	second := presented()
	if string(second) == string(first) {
		t.Fatal("after a renewal and a reload, the old certificate is still presented")
	}
	renew("nfs9")
	if err := m.reloadTLS(log); err == nil || !strings.Contains(err.Error(), "restart it to change identity") {
		t.Errorf("reload of a certificate for another node: %v", err)
	}
	if string(presented()) != string(second) {
		t.Error("a refused certificate replaced the one in use")
	}
}
