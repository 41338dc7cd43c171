package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no certificate PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func TestInitCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs") // created by InitCA
	id, err := InitCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !validClusterID(id) {
		t.Fatalf("cluster id %q", id)
	}
	checkMode(t, filepath.Join(dir, "ca.key"), 0o600)
	checkMode(t, filepath.Join(dir, "ca.pem"), 0o644)
	checkMode(t, dir, 0o700)

	ca := readCert(t, filepath.Join(dir, "ca.pem"))
	if !ca.IsCA || ca.Subject.CommonName != "ncsync cluster "+id || !slices.Equal(ca.Subject.Organization, []string{"ncsync"}) {
		t.Errorf("CA subject %v IsCA %v", ca.Subject, ca.IsCA)
	}
	if len(ca.URIs) != 1 || ca.URIs[0].String() != "ncsync://cluster/"+id {
		t.Errorf("CA URIs %v", ca.URIs)
	}
	if _, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || ca.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("CA key %T is not ECDSA P-256", ca.PublicKey)
	}
	if d := time.Until(ca.NotAfter); d < CAValidity-time.Hour || d > CAValidity {
		t.Errorf("CA valid for %v", d)
	}
	if got, err := caClusterID(ca); err != nil || got != id {
		t.Errorf("caClusterID = %q, %v", got, err)
	}

	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	_, err = InitCA(dir)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second InitCA: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if string(before) != string(after) {
		t.Fatal("second InitCA changed ca.key")
	}
}

func TestInitCARefusesPartial(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := InitCA(dir); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("InitCA over ca.key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ca.pem written although ca.key existed: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left files behind: %v", entries)
	}
}

func TestIssue(t *testing.T) {
	dir := t.TempDir()
	cluster, err := InitCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Issue(dir, "nfs2", RoleSecondary); err != nil {
		t.Fatal(err)
	}
	checkMode(t, filepath.Join(dir, "nfs2.key"), 0o600)
	checkMode(t, filepath.Join(dir, "nfs2.pem"), 0o644)
	c := readCert(t, filepath.Join(dir, "nfs2.pem"))
	id, err := CertIdentity(c)
	if err != nil {
		t.Fatal(err)
	}
	if id != (Identity{ClusterID: cluster, Node: "nfs2", Role: RoleSecondary}) {
		t.Fatalf("identity %+v", id)
	}
	if !slices.Equal(c.DNSNames, []string{"nfs2", "localhost"}) {
		t.Errorf("DNS names %v", c.DNSNames)
	}
	if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IPs %v", c.IPAddresses)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ext key usage %v", c.ExtKeyUsage)
	}
	if c.IsCA {
		t.Error("peer certificate is a CA")
	}
	if d := time.Until(c.NotAfter); d < PeerValidity-time.Hour || d > PeerValidity {
		t.Errorf("peer valid for %v", d)
	}
	ca := readCert(t, filepath.Join(dir, "ca.pem"))
	if err := c.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not signed by the CA: %v", err)
	}

	err = Issue(dir, "nfs2", RolePrimary)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second Issue: %v", err)
	}
	if got := readCert(t, filepath.Join(dir, "nfs2.pem")); !got.Equal(c) {
		t.Fatal("second Issue replaced the certificate")
	}
}

func TestIssueWith(t *testing.T) {
	dir := t.TempDir()
	if _, err := InitCA(dir); err != nil {
		t.Fatal(err)
	}
	opts := IssueOptions{DNS: []string{"nfs1.example"}, IPs: []net.IP{net.ParseIP("192.0.2.7")}, Validity: 48 * time.Hour}
	if err := IssueWith(dir, "nfs1", RolePrimary, opts); err != nil {
		t.Fatal(err)
	}
	c := readCert(t, filepath.Join(dir, "nfs1.pem"))
	if !slices.Equal(c.DNSNames, []string{"nfs1", "localhost", "nfs1.example"}) {
		t.Errorf("DNS names %v", c.DNSNames)
	}
	if len(c.IPAddresses) != 3 || !c.IPAddresses[2].Equal(opts.IPs[0]) {
		t.Errorf("IPs %v", c.IPAddresses)
	}
	if d := time.Until(c.NotAfter); d < 47*time.Hour || d > 48*time.Hour {
		t.Errorf("valid for %v", d)
	}
	// Never past the CA.
	if err := IssueWith(dir, "long", RolePrimary, IssueOptions{Validity: 2 * CAValidity}); err != nil {
		t.Fatal(err)
	}
	if ca, c := readCert(t, filepath.Join(dir, "ca.pem")), readCert(t, filepath.Join(dir, "long.pem")); c.NotAfter.After(ca.NotAfter) {
		t.Errorf("peer expires %v after CA %v", c.NotAfter, ca.NotAfter)
	}
}

func TestIssueErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := InitCA(dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, node string
		role            Role
		opts            IssueOptions
		want            string
	}{
		{"bad node", dir, "Bad_Name", RolePrimary, IssueOptions{}, "invalid node name"},
		{"path in node", dir, "../x", RolePrimary, IssueOptions{}, "invalid node name"},
		{"ca", dir, "ca", RolePrimary, IssueOptions{}, "reserved"},
		{"bad role", dir, "x", Role("master"), IssueOptions{}, "invalid role"},
		{"negative validity", dir, "x", RolePrimary, IssueOptions{Validity: -time.Hour}, "negative"},
		{"empty DNS", dir, "x", RolePrimary, IssueOptions{DNS: []string{""}}, "empty DNS"},
		{"bad IP", dir, "x", RolePrimary, IssueOptions{IPs: []net.IP{{1, 2}}}, "invalid IP"},
		{"no CA", t.TempDir(), "x", RolePrimary, IssueOptions{}, "ncsync certs init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := IssueWith(tc.dir, tc.node, tc.role, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("IssueWith = %v, want error containing %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(tc.dir, "x.key")); err == nil {
				t.Fatal("key written despite the error")
			}
		})
	}
}
