package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/pki"
)

const promoteSection = `promote:
  listen: 0.0.0.0:7301
  secondaries: [nfs1, nfs3]
  tls: {cert: /etc/ncsync/primary/nfs2.pem, key: /etc/ncsync/primary/nfs2.key}
`

func TestPromoteValid(t *testing.T) {
	root := tree(t)
	c, err := Parse([]byte(expand(validSecondary+promoteSection, root)), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Promote{Listen: "0.0.0.0:7301", Secondaries: []string{"nfs1", "nfs3"},
		TLS: TLS{Cert: "/etc/ncsync/primary/nfs2.pem", Key: "/etc/ncsync/primary/nfs2.key"}}
	if !reflect.DeepEqual(c.Promote, want) {
		t.Errorf("promote = %+v, want %+v", c.Promote, want)
	}
	if got := c.PromotedTLS(); got != (TLS{CA: "/etc/ncsync/ca.pem", Cert: want.TLS.Cert, Key: want.TLS.Key, CRL: "/etc/ncsync/crl.pem"}) {
		t.Errorf("PromotedTLS = %+v", got)
	}
	c, err = Parse([]byte(expand(validSecondary, root)), "s.yaml")
	if err != nil || c.Promote != nil || c.PromotedTLS() != (TLS{}) {
		t.Errorf("no section: %+v, %v", c.Promote, err)
	}
}

func TestPromoteErrors(t *testing.T) {
	root := tree(t)
	for _, tc := range []struct {
		name, src, key, want string
	}{
		{"on a primary", validPrimary + promoteSection, "promote", "only a secondary can be promoted"},
		{"no listen", validSecondary + "promote:\n  tls: {cert: /c.pem, key: /c.key}\n", "promote.listen", "required"},
		{"bad listen", validSecondary + "promote:\n  listen: nowhere\n  tls: {cert: /c.pem, key: /c.key}\n", "promote.listen", "not host:port"},
		{"no cert", validSecondary + "promote:\n  listen: :7300\n  tls: {key: /c.key}\n", "promote.tls.cert", "--role primary"},
		{"relative key", validSecondary + "promote:\n  listen: :7300\n  tls: {cert: /c.pem, key: c.key}\n", "promote.tls.key", "absolute"},
		{"self", validSecondary + "promote:\n  listen: :7300\n  secondaries: [nfs2]\n  tls: {cert: /c.pem, key: /c.key}\n", "promote.secondaries[0]", "is this node"},
		{"duplicate", validSecondary + "promote:\n  listen: :7300\n  secondaries: [nfs1, nfs1]\n  tls: {cert: /c.pem, key: /c.key}\n", "promote.secondaries[1]", "duplicate"},
		{"unknown key", validSecondary + "promote:\n  listen: :7300\n  lsiten: x\n  tls: {cert: /c.pem, key: /c.key}\n", "promote", "unknown key"},
		{"not a mapping", validSecondary + "promote: yes\n", "promote", "must be a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(expand(tc.src, root)), "s.yaml")
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, e := range configErrors(t, err) {
				if e.Key == tc.key && e.Line > 0 && strings.Contains(e.Msg, tc.want) {
					return
				}
			}
			t.Fatalf("no %s error containing %q with a line in %v", tc.key, tc.want, err)
		})
	}
}

func TestExampleDocumentsPromote(t *testing.T) {
	src := Example(ExampleParams{Node: "nfs2", Role: pki.RoleSecondary})
	var lines []string
	on := false
	for _, l := range strings.Split(src, "\n") {
		if l == "# promote:" {
			on = true
		}
		if on && strings.HasPrefix(l, "#") && (l == "# promote:" || strings.HasPrefix(l, "#   ")) {
			l = l[2:]
		} else {
			on = false
		}
		lines = append(lines, l)
	}
	c, err := decode([]byte(strings.Join(lines, "\n")), "example.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	p := &problems{file: c.file, pos: c.pos}
	c.validateValues(p)
	if err := p.err(); err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if c.Promote == nil || c.Promote.Listen != "0.0.0.0:7300" || c.Promote.TLS.Cert != "/etc/ncsync/primary/nfs2.pem" {
		t.Errorf("uncommented promote section: %+v\n%s", c.Promote, src)
	}
}

// FuzzParsePromote is FuzzParse seeded with promote sections: whatever
// Parse accepts has a complete promote section on a secondary.
func FuzzParsePromote(f *testing.F) {
	root := tree(f)
	f.Add([]byte(expand(validSecondary+promoteSection, root)))
	f.Add([]byte(expand(validSecondary+"promote:\n  listen: :7300\n  secondaries: [nfs1, nfs1]\n  tls: {ca: /a.pem, cert: c.pem}\n", root)))
	f.Add([]byte(expand(validPrimary+promoteSection, root)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			for _, e := range configErrors(t, err) {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("badly located error %#v", e)
				}
			}
			return
		}
		if pr := c.Promote; pr != nil {
			if c.Role != pki.RoleSecondary || pr.Listen == "" || pr.TLS.Cert == "" || pr.TLS.Key == "" || c.PromotedTLS().CA == "" {
				t.Fatalf("accepted promote section %+v in %+v", pr, c)
			}
		}
	})
}
