package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"strings"
	"testing"
)

const testCluster = "0123456789abcdef0123456789abcdef"

func TestValidNodeName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"nfs1", true},
		{"a", true},
		{"0", true},
		{"nfs-2", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-a", false},
		{"a-", false},
		{"NFS1", false},
		{"a.b", false},
		{"a_b", false},
		{"a/b", false},
		{"a b", false},
		{"ca", false},
		{"é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidNodeName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidNodeName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]Role{"primary": RolePrimary, "secondary": RoleSecondary} {
		got, err := ParseRole(in)
		if err != nil || got != want {
			t.Errorf("ParseRole(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "Primary", "master", "primary "} {
		if _, err := ParseRole(in); err == nil {
			t.Errorf("ParseRole(%q) succeeded", in)
		}
	}
}

func certWith(cn string, uris ...string) *x509.Certificate {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			panic(err)
		}
		c.URIs = append(c.URIs, u)
	}
	return c
}

// certIdentityCases seed both the table test and the fuzzer.
var certIdentityCases = []struct {
	name    string
	cert    *x509.Certificate
	wantErr string // substring; empty means success
}{
	{"valid primary", certWith("nfs1", "ncsync://"+testCluster+"/primary/nfs1"), ""},
	{"valid secondary with other URI", certWith("nfs2", "spiffe://x/y", "ncsync://"+testCluster+"/secondary/nfs2"), ""},
	{"nil", nil, "no certificate"},
	{"no URIs", certWith("nfs1"), "no ncsync:// URI SAN"},
	{"only foreign URI", certWith("nfs1", "spiffe://example.org/nfs1"), "no ncsync:// URI SAN"},
	{"two URIs", certWith("nfs1", "ncsync://"+testCluster+"/primary/nfs1", "ncsync://"+testCluster+"/secondary/nfs1"), "more than one"},
	{"CA URI", certWith("nfs1", "ncsync://cluster/"+testCluster), "CA certificate"},
	{"missing node", certWith("nfs1", "ncsync://"+testCluster+"/primary"), "path is not"},
	{"extra component", certWith("nfs1", "ncsync://"+testCluster+"/primary/nfs1/x"), "path is not"},
	{"trailing slash", certWith("nfs1", "ncsync://"+testCluster+"/primary/nfs1/"), "path is not"},
	{"empty path", certWith("nfs1", "ncsync://"+testCluster), "path is not"},
	{"bad role", certWith("nfs1", "ncsync://"+testCluster+"/master/nfs1"), "invalid role"},
	{"upper-case node", certWith("NFS1", "ncsync://"+testCluster+"/primary/NFS1"), "invalid node name"},
	{"reserved node", certWith("ca", "ncsync://"+testCluster+"/primary/ca"), "reserved"},
	{"short cluster", certWith("nfs1", "ncsync://0123/primary/nfs1"), "cluster id"},
	{"upper-case cluster", certWith("nfs1", "ncsync://"+strings.ToUpper(testCluster)+"/primary/nfs1"), "cluster id"},
	{"cluster with port", certWith("nfs1", "ncsync://"+testCluster+":7300/primary/nfs1"), "cluster id"},
	{"query", certWith("nfs1", "ncsync://"+testCluster+"/primary/nfs1?x=1"), "unexpected URI parts"},
	{"fragment", certWith("nfs1", "ncsync://"+testCluster+"/primary/nfs1#x"), "unexpected URI parts"},
	{"user info", certWith("nfs1", "ncsync://u@"+testCluster+"/primary/nfs1"), "unexpected URI parts"},
	{"escaped slash", certWith("nfs1", "ncsync://"+testCluster+"/primary/nfs1%2Fx"), "unexpected URI parts"},
	{"opaque", certWith("nfs1", "ncsync:"+testCluster+"/primary/nfs1"), "unexpected URI parts"},
	{"CN mismatch", certWith("nfs9", "ncsync://"+testCluster+"/primary/nfs1"), "does not match"},
}

func TestCertIdentity(t *testing.T) {
	for _, tc := range certIdentityCases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := CertIdentity(tc.cert)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if id.ClusterID != testCluster || id.Node != tc.cert.Subject.CommonName {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CertIdentity = %+v, %v; want error containing %q", id, err, tc.wantErr)
			}
		})
	}
}

// FuzzCertIdentity checks that only canonical URIs are accepted.
func FuzzCertIdentity(f *testing.F) {
	for _, tc := range certIdentityCases {
		if tc.cert != nil && len(tc.cert.URIs) > 0 {
			f.Add(tc.cert.Subject.CommonName, tc.cert.URIs[len(tc.cert.URIs)-1].String())
		}
	}
	f.Fuzz(func(t *testing.T, cn, uri string) {
		u, err := url.Parse(uri)
		if err != nil {
			return
		}
		id, err := CertIdentity(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, URIs: []*url.URL{u}})
		if err != nil {
			return
		}
		// url.Parse lower-cases the scheme (RFC 3986 says it is
		// case-insensitive); nothing else may differ.
		prefix := uriScheme + "://"
		if got := peerURI(id).String(); !strings.EqualFold(uri[:len(prefix)], prefix) || got[len(prefix):] != uri[len(prefix):] {
			t.Fatalf("accepted non-canonical %q (canonical %q)", uri, got)
		}
		if id.Node != cn {
			t.Fatalf("node %q, common name %q", id.Node, cn)
		}
	})
}

func TestRequireRole(t *testing.T) {
	id := Identity{ClusterID: testCluster, Node: "x", Role: RoleSecondary}
	if err := RequireRole(id, RoleSecondary); err != nil {
		t.Fatal(err)
	}
	err := RequireRole(id, RolePrimary)
	if err == nil || err.Error() != `peer "x" has role secondary; a primary is required` {
		t.Fatalf("RequireRole = %v", err)
	}
	if !errors.Is(err, ErrWrongRole) {
		t.Fatalf("%v is not ErrWrongRole", err)
	}
}
