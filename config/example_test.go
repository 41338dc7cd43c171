package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/pki"
)

func TestExamplePrimaryParses(t *testing.T) {
	root := tree(t)
	odd := filepath.Join(root, `we: "ird" #dir`)
	if err := os.Mkdir(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	p := ExampleParams{
		Node: "nfs1", Role: pki.RolePrimary, StateDir: root + "/state", ControlSocket: root + "/ctl.sock",
		ControlGroup: "ncsync", ControlAdminGroup: "54002", Listen: "127.0.0.1:0", Secondaries: []string{"nfs2", "nfs3"},
		TLS:           TLS{CA: root + "/ca.pem", Cert: root + "/nfs1.pem", Key: root + "/nfs1.key"},
		MetricsListen: "127.0.0.1:9300", ScanInterval: 1500 * time.Millisecond,
		Folders: []Folder{
			{ID: "data", Path: root + "/data", Ignore: []string{"*.part", "/x y/", "#not-a-comment", "a,b", "[x]"}},
			{ID: "web", Path: odd, NoDefaultIgnores: true},
		},
	}
	src := Example(p)
	c, err := Parse([]byte(src), "example.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if c.Node != p.Node || c.Role != p.Role || c.StateDir != p.StateDir || c.ControlSocket != p.ControlSocket ||
		c.ControlGroup != p.ControlGroup || c.ControlAdminGroup != p.ControlAdminGroup || c.Listen != p.Listen || !slices.Equal(c.Secondaries, p.Secondaries) ||
		c.TLS != p.TLS || c.MetricsListen != p.MetricsListen || c.ScanInterval != p.ScanInterval || c.Primary != "" {
		t.Errorf("parsed %+v from\n%s", c, src)
	}
	if len(c.Folders) != 2 {
		t.Fatalf("folders %+v", c.Folders)
	}
	for i, f := range c.Folders {
		w := p.Folders[i]
		if f.ID != w.ID || f.Path != w.Path || !slices.Equal(f.Ignore, w.Ignore) || f.NoDefaultIgnores != w.NoDefaultIgnores {
			t.Errorf("folder %d: %+v, want %+v", i, f, w)
		}
	}
}

func TestExampleSecondaryParses(t *testing.T) {
	root := tree(t)
	p := ExampleParams{
		Node: "nfs2", Role: pki.RoleSecondary, StateDir: root + "/state", ControlSocket: root + "/ctl.sock",
		Primary: "127.0.0.1:7300", TLS: TLS{CA: "/c/ca.pem", Cert: "/c/nfs2.pem", Key: "/c/nfs2.key"},
		Folders: []Folder{{ID: "data", Path: root + "/data"}},
	}
	src := Example(p)
	c, err := Parse([]byte(src), "example.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if c.Role != pki.RoleSecondary || c.Primary != p.Primary || c.Listen != "" || len(c.Secondaries) != 0 ||
		c.ScanInterval != DefaultScanInterval || c.MetricsListen != "" || c.ControlGroup != "" || c.ControlAdminGroup != "" {
		t.Errorf("parsed %+v from\n%s", c, src)
	}
}

func TestExampleDefaults(t *testing.T) {
	src := Example(ExampleParams{})
	c, err := decode([]byte(src), "example.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	p := &problems{file: c.file, pos: c.pos}
	c.validateValues(p) // the paths need not exist here
	if err := p.err(); err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if c.Node != "nfs1" || c.Role != pki.RolePrimary || c.StateDir != "/var/lib/ncsync" || c.Listen != "0.0.0.0:7300" ||
		c.TLS.Cert != "/etc/ncsync/nfs1.pem" || len(c.Folders) != 2 || c.Folders[1].Path != "/srv/nextcloud/data" ||
		!slices.Equal(c.Folders[1].Ignore, []string{"/nextcloud.log", "/audit.log", "/*/uploads/", "*.part", "/updater-*/"}) {
		t.Errorf("parsed %+v from\n%s", c, src)
	}
	// Every key is shown, set or commented out, with a comment before it.
	lines := strings.Split(src, "\n")
	for key := range topFields {
		i := slices.IndexFunc(lines, func(l string) bool {
			return strings.HasPrefix(l, key+":") || strings.HasPrefix(l, "# "+key+":")
		})
		if i < 1 || !strings.HasPrefix(lines[i-1], "#") {
			t.Errorf("key %q missing or without a comment in\n%s", key, src)
		}
	}
	for _, key := range []string{"ignore:", "no_default_ignores", "refuse_symlinks", "strip_setid"} {
		if !strings.Contains(src, key) {
			t.Errorf("%s is not explained", key)
		}
	}
}

func TestScalar(t *testing.T) {
	for _, s := range []string{"nfs1", "0.0.0.0:7300", "true", "null", "~", "123", "0x1F", "1e3", "*.part", "/a b", "a: b", "a:", "#x", "", "é", "a,b", "'q'", `"`, "-", "- a", "2s", "a\nb", "\t"} {
		q := scalar(s)
		var got []string
		c, err := decode([]byte("secondaries: ["+q+"]\n"), "s")
		if err != nil || c == nil {
			// decode only fails on values; the list must have parsed.
			t.Fatalf("scalar(%q) = %s: %v", s, q, err)
		}
		got = c.Secondaries
		if len(got) != 1 || got[0] != s {
			t.Errorf("scalar(%q) = %s reads back as %q", s, q, got)
		}
	}
}
