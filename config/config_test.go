package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/pki"
)

// tree makes a temporary directory with:
//
//	data/ data/sub/ web/ state/ afile  link -> data
//
// and returns it.
func tree(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"data/sub", "web", "state"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "afile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "data"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	return root
}

// expand replaces $D with root.
func expand(s, root string) string { return strings.ReplaceAll(s, "$D", root) }

const validPrimary = `node: nfs1
role: primary
state_dir: $D/state
listen: 127.0.0.1:7300
secondaries: [nfs2, nfs3]
tls: {ca: /etc/ncsync/ca.pem, cert: /etc/ncsync/nfs1.pem, key: /etc/ncsync/nfs1.key}
metrics_listen: 127.0.0.1:9300
folders:
  - id: data
    path: $D/data/
    ignore: ["/nextcloud.log", "*.part"]
  - id: webroot
    path: $D/web
    no_default_ignores: true
    hold_empty: []
    hold_empty_for: 2s
`

const validSecondary = `node: nfs2
role: secondary
state_dir: $D/state
control_socket: $D/state/../ctl.sock
control_group: ncsync
control_admin_group: ncsync-admin
primary: nfs1@nfs1.example:7300
promotable: [nfs3]
tls:
  ca: /etc/ncsync/ca.pem
  cert: /etc/ncsync/nfs2.pem
  key: /etc/ncsync/nfs2.key
  crl: /etc/ncsync/crl.pem
scan_interval: 90s
watch:
  quiet: 20ms
  max_latency: 1s
  audit_interval: 10m
  repair: false
folders:
  - id: data
    path: $D/data
    refuse_symlinks: true
    strip_setid: true
`

func TestParseValid(t *testing.T) {
	root := tree(t)
	c, err := Parse([]byte(expand(validPrimary, root)), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Node != "nfs1" || c.Role != pki.RolePrimary || c.Listen != "127.0.0.1:7300" ||
		!slices.Equal(c.Secondaries, []string{"nfs2", "nfs3"}) || c.MetricsListen != "127.0.0.1:9300" {
		t.Errorf("parsed %+v", c)
	}
	if c.ControlSocket != DefaultControlSocket || c.ScanInterval != DefaultScanInterval ||
		c.Watch != (Watch{Quiet: DefaultQuiet, MaxLatency: DefaultMaxLatency, AuditInterval: DefaultAudit, Repair: true}) {
		t.Errorf("defaults: socket %q, scan interval %v, watch %+v", c.ControlSocket, c.ScanInterval, c.Watch)
	}
	if c.TLS != (TLS{CA: "/etc/ncsync/ca.pem", Cert: "/etc/ncsync/nfs1.pem", Key: "/etc/ncsync/nfs1.key"}) {
		t.Errorf("tls %+v", c.TLS)
	}
	want := []Folder{
		{ID: "data", Path: root + "/data", Ignore: []string{"/nextcloud.log", "*.part"}},
		{ID: "webroot", Path: root + "/web", NoDefaultIgnores: true},
	}
	if len(c.Folders) != 2 {
		t.Fatalf("folders %+v", c.Folders)
	}
	for i, f := range c.Folders {
		w := want[i]
		if f.ID != w.ID || f.Path != w.Path || !slices.Equal(f.Ignore, w.Ignore) || f.NoDefaultIgnores != w.NoDefaultIgnores {
			t.Errorf("folder %d: %+v, want %+v", i, f, w)
		}
	}
	if f := c.Folders[0]; !slices.Equal(f.HoldEmpty, DefaultHoldEmpty) || f.HoldEmptyFor != DefaultHoldEmptyFor {
		t.Errorf("folder data: hold_empty %q for %v, want the defaults", f.HoldEmpty, f.HoldEmptyFor)
	}
	if f := c.Folders[1]; f.HoldEmpty == nil || len(f.HoldEmpty) != 0 || f.HoldEmptyFor != 2*time.Second {
		t.Errorf("folder webroot: hold_empty %q for %v, want none (set to []) for 2s", f.HoldEmpty, f.HoldEmptyFor)
	}
	if f, ok := c.Folder("webroot"); !ok || f.Path != root+"/web" {
		t.Errorf("Folder(webroot) = %+v, %v", f, ok)
	}
	if _, ok := c.Folder("nope"); ok {
		t.Error("Folder(nope) found")
	}
	if got := c.DBPath(); got != root+"/state/index.db" {
		t.Errorf("DBPath %q", got)
	}

	c, err = Parse([]byte(expand(validSecondary, root)), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != pki.RoleSecondary || c.Primary != "nfs1.example:7300" || c.PrimaryNode != "nfs1" ||
		!slices.Equal(c.Promotable, []string{"nfs3"}) || c.TLS.CRL != "/etc/ncsync/crl.pem" || c.ScanInterval != 90*time.Second ||
		c.Watch != (Watch{Quiet: 20 * time.Millisecond, MaxLatency: time.Second, AuditInterval: 10 * time.Minute, Repair: false}) ||
		c.ControlSocket != root+"/ctl.sock" || c.ControlGroup != "ncsync" || c.ControlAdminGroup != "ncsync-admin" || c.TLS.Key != "/etc/ncsync/nfs2.key" ||
		!c.Folders[0].RefuseSymlinks || !c.Folders[0].StripSetID {
		t.Errorf("parsed %+v", c)
	}
}

func TestParseAliasesAndNulls(t *testing.T) {
	root := tree(t)
	src := expand(`node: nfs1
role: primary
state_dir: &s $D/state
control_socket:
scan_interval:
listen: :7300
tls: &t {ca: /a, cert: /b, key: /c}
folders:
  - &f {id: data, path: $D/data, ignore: &i [a, b]}
  - {id: web, path: $D/web, ignore: *i}
`, root)
	c, err := Parse([]byte(src), "a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.ControlSocket != DefaultControlSocket || c.ScanInterval != DefaultScanInterval {
		t.Errorf("null values did not default: %q %v", c.ControlSocket, c.ScanInterval)
	}
	if !slices.Equal(c.Folders[1].Ignore, []string{"a", "b"}) {
		t.Errorf("alias: %+v", c.Folders[1])
	}
}

// errorCases seed both TestParseErrors and FuzzParse. want is a substring
// of the message, key the Error.Key, line its Error.Line.
var errorCases = []struct {
	name, src, key string
	line           int
	want           string
}{
	// Syntax and structure.
	{"yaml syntax", "node: nfs1\nrole: [primary\n", "", 2, "invalid YAML: did not find expected ',' or ']'"},
	{"yaml syntax second line", "- a\nb: c\n", "", 2, "invalid YAML: did not find expected '-' indicator"},
	{"yaml unclosed list", "[a, b\n", "", 2, "invalid YAML: did not find expected ',' or ']'"},
	{"yaml syntax block", "a: 1\nb: 2\n- c\n", "", 3, "invalid YAML: did not find expected key"},
	{"yaml scanner", "a: 1\nb: 2\nc: d: e\n", "", 3, "invalid YAML: mapping values are not allowed"},
	{"yaml tab", "a: 1\n\tb: 2\n", "", 2, "invalid YAML: found a tab character"},
	{"yaml unknown anchor", "a: *x\n", "", 0, "invalid YAML: unknown anchor"},
	{"empty", "", "", 0, "the file is empty"},
	{"comments only", "# nothing\n", "", 0, "the file is empty"},
	{"null document", "---\n~\n", "", 2, "the file is empty"},
	{"list document", "- node\n", "", 1, "must be a mapping of keys"},
	{"two documents", "node: a\n---\nnode: b\n", "", 2, "more than one YAML document"},
	{"duplicate key", "node: a\nnode: b\n", "", 2, `duplicate key "node" (first set at line 1)`},
	{"complex key", "? [a]\n: b\n", "", 1, "a key must be a plain name"},
	{"custom tag", "node: !foo a\n", "node", 1, "unsupported YAML tag"},

	// Unknown keys, at every level.
	{"unknown top key", "node: nfs1\nlistn: 1.2.3.4:5\n", "", 2, `unknown key "listn" (did you mean "listen"?)`},
	{"unknown far key", "zzzzzzzz: 1\n", "", 1, `unknown key "zzzzzzzz"`},
	{"unknown tls key", "tls:\n  ca: /a\n  cat: /b\n", "tls", 3, `unknown key "cat" (did you mean "ca"?)`},
	{"unknown folder key", "folders:\n  - id: x\n    paht: /x\n", "folders[0]", 3, `unknown key "paht" (did you mean "path"?)`},
	{"key in wrong place", "tls: {listen: x}\n", "tls", 1, `unknown key "listen"`},

	// Wrong types.
	{"listen list", "listen: [1]\n", "listen", 1, "must be a string, not a list"},
	{"node mapping", "node:\n  a: b\n", "node", 2, "must be a string, not a mapping"},
	{"secondaries scalar", "secondaries: nfs2\n", "secondaries", 1, "must be a list of strings"},
	{"secondaries item", "secondaries:\n  - [a]\n", "secondaries[0]", 2, "must be a string, not a list"},
	{"secondaries null item", "secondaries: [a, ~]\n", "secondaries[1]", 1, "must be a string, not empty"},
	{"tls scalar", "tls: /etc/ncsync\n", "tls", 1, "must be a mapping"},
	{"folders mapping", "folders: {id: x}\n", "folders", 1, "must be a list of folders"},
	{"folder scalar", "folders:\n  - /srv\n", "folders[0]", 2, "must be a mapping with id and path"},
	{"ignore scalar", "folders:\n  - ignore: '*.part'\n", "folders[0].ignore", 2, "must be a list of strings"},
	{"no_default_ignores string", "folders:\n  - no_default_ignores: maybe\n", "folders[0].no_default_ignores", 2, "must be true or false"},
	{"no_default_ignores number", "folders:\n  - no_default_ignores: 1\n", "folders[0].no_default_ignores", 2, "must be true or false"},
	{"refuse_symlinks string", "folders:\n  - refuse_symlinks: maybe\n", "folders[0].refuse_symlinks", 2, "must be true or false"},
	{"strip_setid number", "folders:\n  - strip_setid: 1\n", "folders[0].strip_setid", 2, "must be true or false"},
	{"role invalid", "role: master\n", "role", 1, `invalid role "master": want primary or secondary`},
	{"duration garbage", "scan_interval: 2x\n", "scan_interval", 1, `invalid duration "2x"`},
	{"duration no unit", "scan_interval: 2\n", "scan_interval", 1, `invalid duration "2"`},
	{"duration zero", "scan_interval: 0s\n", "scan_interval", 1, "must be greater than zero"},
	{"duration negative", "scan_interval: -1s\n", "scan_interval", 1, "must be greater than zero"},
	{"ignore bad pattern", "folders:\n  - ignore: ['ok', 'bad[']\n", "folders[0].ignore[1]", 2, `ignore pattern "bad[": invalid pattern`},
	{"hold_empty bad pattern", "folders:\n  - hold_empty: ['/config/x[']\n", "folders[0].hold_empty[0]", 2, "invalid pattern"},
	{"hold_empty scalar", "folders:\n  - hold_empty: /config/config.php\n", "folders[0].hold_empty", 2, "must be a list of strings"},
	{"hold_empty_for zero", "folders:\n  - hold_empty_for: 0s\n", "folders[0].hold_empty_for", 2, "must be greater than zero"},
	{"watch scalar", "watch: fast\n", "watch", 1, "must be a mapping {quiet: 75ms"},
	{"watch unknown key", "watch:\n  quite: 1s\n", "watch", 2, `unknown key "quite" (did you mean "quiet"?)`},
	{"watch bad duration", "watch: {audit_interval: hourly}\n", "watch.audit_interval", 1, `invalid duration "hourly"`},
	{"watch repair not a bool", "watch: {repair: sometimes}\n", "watch.repair", 1, "must be true or false"},

	// Values (on an otherwise valid file: see withLine).
	{"node missing", "-node", "node", 0, "required"},
	{"watch latency below quiet", "watch: {quiet: 2s, max_latency: 1s}", "watch.max_latency", 10, "shorter than watch.quiet"},
	{"watch repair on a primary", "watch: {repair: false}", "watch.repair", 10, "only a secondary repairs its own tree"},
	{"node invalid", "node: NFS_1", "node", 1, `invalid node name "NFS_1"`},
	{"node reserved", "node: ca", "node", 1, "reserved"},
	{"role missing", "-role", "role", 0, "required: primary or secondary"},
	{"state_dir missing", "-state_dir", "state_dir", 0, "required"},
	{"state_dir relative", "state_dir: var/lib/ncsync", "state_dir", 3, `"var/lib/ncsync" must be an absolute path`},
	{"state_dir is a file", "state_dir: $D/afile", "state_dir", 3, "is not a directory"},
	{"state_dir in folder", "state_dir: $D/data/sub/state", "state_dir", 3, `is inside folder "data"`},
	{"state_dir via symlink", "state_dir: $D/link/state", "state_dir", 3, `which resolves to`},
	{"folder in state_dir", "state_dir: $D", "folders[0].path", 9, `is inside state_dir`},
	{"socket relative", "control_socket: ctl.sock", "control_socket", 10, "must be an absolute path"},
	{"socket in folder", "control_socket: $D/data/ctl.sock", "control_socket", 10, `is inside folder "data"`},
	{"group invalid", "control_group: a b", "control_group", 10, `invalid group name "a b"`},
	{"admin group invalid", "control_admin_group: -admins", "control_admin_group", 10, `invalid group name "-admins"`},
	{"admin group not a string", "control_admin_group: [a]", "control_admin_group", 10, "must be"},
	{"listen missing", "-listen", "listen", 2, "required for role primary"},
	{"listen no port", "listen: 127.0.0.1", "listen", 4, "is not host:port"},
	{"listen bad port", "listen: :99999", "listen", 4, `port "99999" is not a number`},
	{"primary on primary", "primary: x:1", "primary", 10, "only a secondary follows a primary"},
	{"secondary invalid", "secondaries: [nfs2, Bad]", "secondaries[1]", 5, `invalid node name "Bad"`},
	{"secondary duplicate", "secondaries: [nfs2, nfs2]", "secondaries[1]", 5, `duplicate secondary "nfs2"`},
	{"secondary is self", "secondaries: [nfs1]", "secondaries[0]", 5, "is this node"},
	{"tls missing", "-tls", "tls", 0, "required"},
	{"tls key missing", "tls: {ca: /a, cert: /b}", "tls.key", 6, "required"},
	{"tls key in folder", "tls: {ca: /a, cert: /b, key: $D/data/nfs1.key}", "tls.key", 6, "the private key would be replicated"},
	{"tls relative", "tls: {ca: /a, cert: b.pem, key: /c}", "tls.cert", 6, `"b.pem" must be an absolute path`},
	{"metrics invalid", "metrics_listen: 9300", "metrics_listen", 10, "is not host:port"},
	{"folders missing", "-folders", "folders", 0, "at least one folder"},
	{"folders empty", "folders: []", "folders", 7, "at least one folder"},
	{"folder id missing", "  - path: $D/web", "folders[1].id", 10, "required"},
	{"folder path missing", "  - id: web", "folders[1].path", 10, "required"},
	{"folder id invalid", "  - {id: Web, path: $D/web}", "folders[1].id", 10, `invalid folder id "Web"`},
	{"folder id duplicate", "  - {id: data, path: $D/web}", "folders[1].id", 10, `duplicate folder id "data"`},
	{"folder relative", "  - {id: web, path: srv/web}", "folders[1].path", 10, `"srv/web" must be an absolute path`},
	{"folder does not exist", "  - {id: web, path: $D/nope}", "folders[1].path", 10, `folder "web": path "$D/nope" does not exist: create it or fix the path`},
	{"folder is a file", "  - {id: web, path: $D/afile}", "folders[1].path", 10, "is not a directory"},
	{"folder nested", "  - {id: web, path: $D/data/sub}", "folders[1].path", 10, `folder "web" ("$D/data/sub") is inside folder "data"`},
	{"folder contains", "  - {id: web, path: $D}", "folders[1].path", 10, `contains folder "data"`},
	{"folder equal", "  - {id: web, path: $D/data/.}", "folders[1].path", 10, `is the same directory as folder "data"`},
	{"folder equal via symlink", "  - {id: web, path: $D/link}", "folders[1].path", 10, `is the same directory as folder "data"`},
	{"folder nested via symlink", "  - {id: web, path: $D/link/sub}", "folders[1].path", 10, `which resolves to "$D/data/sub"`},
}

// base is a valid primary; "values" cases edit it with withLine.
const base = `node: nfs1
role: primary
state_dir: $D/state
listen: 127.0.0.1:7300
secondaries: [nfs2]
tls: {ca: /etc/ncsync/ca.pem, cert: /etc/ncsync/nfs1.pem, key: /etc/ncsync/nfs1.key}
folders:
  - id: data
    path: $D/data
`

// withLine applies a case's edit to base: "-key" deletes the key's line,
// "key: v" replaces the top-level key's line (or is appended), and a line
// starting with "  - " appends a folder.
func withLine(edit string) string {
	lines := strings.Split(strings.TrimSuffix(base, "\n"), "\n")
	switch {
	case strings.HasPrefix(edit, "-"):
		key := edit[1:] + ":"
		out := lines[:0]
		for i := 0; i < len(lines); i++ {
			if strings.HasPrefix(lines[i], key) {
				for i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ") {
					i++ // and its block
				}
				continue
			}
			out = append(out, lines[i])
		}
		lines = out
	case strings.HasPrefix(edit, "  - "):
		lines = append(lines, edit)
	default:
		key, _, _ := strings.Cut(edit, ":")
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, key+":") })
		switch {
		case i < 0:
			lines = append(lines, edit)
		case key == "folders":
			lines = append(lines[:i], edit)
		default:
			lines[i] = edit
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// source returns the YAML of an error case: structural cases contain
// newlines and stand alone; value cases are edits of base.
func caseSource(src, root string) string {
	if !strings.Contains(src, "\n") && src != "" {
		src = withLine(src)
	}
	return expand(src, root)
}

// configErrors flattens what Parse or Validate returned.
func configErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*Error, 0, len(errs))
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %v (%T) is not a *config.Error", e, e)
		}
		out = append(out, ce)
	}
	return out
}

func TestParseErrors(t *testing.T) {
	root := tree(t)
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			src := caseSource(tc.src, root)
			c, err := Parse([]byte(src), "test.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded: %+v\n%s", c, src)
			}
			want := expand(tc.want, root)
			for _, e := range configErrors(t, err) {
				if e.Key == tc.key && e.Line == tc.line && strings.Contains(e.Msg, want) {
					loc := "config test.yaml:" + strconv.Itoa(tc.line) + ": "
					if tc.line == 0 {
						loc = "config test.yaml: "
					}
					if !strings.HasPrefix(e.Error(), loc) || !strings.Contains(err.Error(), e.Error()) {
						t.Fatalf("message %q does not start with %q", e.Error(), loc)
					}
					return
				}
			}
			t.Fatalf("no error with key %q, line %d, containing %q in:\n%v\nsource:\n%s", tc.key, tc.line, want, err, src)
		})
	}
}

func TestParseReportsAllProblems(t *testing.T) {
	src := "nod: x\nrole: master\ntls: {ca: /a, crt: /b}\nlisten: [1]\n"
	err := func() error { _, err := Parse([]byte(src), "m.yaml"); return err }()
	errs := configErrors(t, err)
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, []int{1, 2, 3, 4}) {
		t.Fatalf("lines %v in:\n%v", lines, err)
	}
	if !strings.Contains(err.Error(), `config m.yaml:1: unknown key "nod" (did you mean "node"?)`) {
		t.Fatalf("message:\n%v", err)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	root := tree(t)
	c := &Config{
		Node: "nfs2", Role: pki.RoleSecondary, StateDir: root + "/state", ControlSocket: DefaultControlSocket,
		Primary: "nfs1:7300", PrimaryNode: "nfs1", TLS: TLS{CA: "/a", Cert: "/b", Key: "/c"}, ScanInterval: time.Second,
		Folders: []Folder{{ID: "data", Path: root + "/data"}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Folders[0].Path = root + "/data/"
	c.ScanInterval = 0
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "config: folders[0].path: ") || !strings.Contains(err.Error(), "is not clean") ||
		!strings.Contains(err.Error(), "config: scan_interval: must be greater than zero") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestSecondaryRules(t *testing.T) {
	root := tree(t)
	for _, tc := range []struct{ edit, key, want string }{
		{"-primary", "primary", "required for role secondary"},
		{"primary: nfs1@nfs1", "primary", "is not host:port"},
		{"primary: nfs1@:7300", "primary", "the host is missing"},
		{"primary: nfs1@nfs1:0", "primary", "port 0 is only for listening"},
		{"primary: nfs1.example:7300", "primary", `"nfs1.example:7300" names no node: write NODE@HOST:PORT`},
		{`primary: "@nfs1.example:7300"`, "primary", "names no node"},
		{"primary: NFS1@nfs1.example:7300", "primary", "invalid node name"},
		{"primary: nfs2@nfs1.example:7300", "primary", "is this node"},
		{"promotable: [nfs2]", "promotable[0]", "is this node"},
		{"promotable: [nfs3, nfs3]", "promotable[1]", "duplicate promotable node"},
		{"promotable: [Bad]", "promotable[0]", "invalid node name"},
		{"listen: :7300", "listen", "only a primary listens"},
		{"secondaries: [nfs3]", "secondaries", "only a primary has secondaries"},
	} {
		t.Run(tc.edit, func(t *testing.T) {
			src := strings.Replace(validSecondary, "scan_interval: 90s", "", 1)
			switch {
			case strings.HasPrefix(tc.edit, "-"):
				src = strings.Replace(src, "primary: nfs1@nfs1.example:7300\n", "", 1)
			case strings.HasPrefix(tc.edit, "primary:"), strings.HasPrefix(tc.edit, "promotable:"):
				key, _, _ := strings.Cut(tc.edit, ":")
				src = regexp.MustCompile(`(?m)^`+key+`: .*$`).ReplaceAllString(src, tc.edit)
			default:
				src += tc.edit + "\n"
			}
			_, err := Parse([]byte(expand(src, root)), "s.yaml")
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

func TestLoad(t *testing.T) {
	root := tree(t)
	path := filepath.Join(root, "ncsync.yaml")
	if err := os.WriteFile(path, []byte(expand(validPrimary, root)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path {
		t.Errorf("Path %q", c.Path)
	}
	if _, err := Load(filepath.Join(root, "nope.yaml")); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
	big := filepath.Join(root, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", maxSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of a huge file: %v", err)
	}
	if err := os.WriteFile(path, []byte("node: x\nlistn: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "config "+path+":2: unknown key \"listn\"") {
		t.Errorf("Load of a bad file: %v", err)
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x: &a [")
	for i := 0; i < 1000; i++ {
		b.WriteString("a,")
	}
	b.WriteString("a]\nsecondaries: [")
	for i := 0; i < 1000; i++ {
		b.WriteString("*a,")
	}
	b.WriteString("*a]\n")
	start := time.Now()
	_, err := Parse([]byte(b.String()), "bomb.yaml")
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestEditDistanceSuggest(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"listn", "listen"}, {"Node", "node"}, {"stat_dir", "state_dir"}, {"folder", "folders"},
		{"x", ""}, {"zzzzzzzz", ""},
	} {
		got := suggest(tc.name, topFields)
		if tc.want == "" && got != "" || tc.want != "" && got != ` (did you mean "`+tc.want+`"?)` {
			t.Errorf("suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLogKeys(t *testing.T) {
	root := tree(t)
	base := expand(validPrimary, root)
	c, err := Parse([]byte(base), "ncsync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Format != "text" || c.Log.Level != slog.LevelInfo {
		t.Errorf("defaults: %+v", c.Log)
	}
	c, err = Parse([]byte(base+"log: {format: json, level: debug}\n"), "ncsync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Format != "json" || c.Log.Level != slog.LevelDebug {
		t.Errorf("log: %+v", c.Log)
	}
	for _, bad := range []string{"log: {format: xml}\n", "log: {level: loud}\n", "log: text\n", "log: {colour: red}\n"} {
		if _, err := Parse([]byte(base+bad), "ncsync.yaml"); err == nil || !strings.Contains(err.Error(), "log") {
			t.Errorf("%q: err %v, want one naming the log key", bad, err)
		}
	}
}

func TestLimitsKeys(t *testing.T) {
	root := tree(t)
	base := expand(validPrimary, root)
	c, err := Parse([]byte(base+"limits: {bandwidth: 10MB/s, bandwidth_per_peer: 4MiB/s, cpu: 1, nice: 10, ionice: \"best-effort:7\"}\n"), "ncsync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{Bandwidth: 10e6, BandwidthPerPeer: 4 << 20, CPU: 1, Nice: 10, IONice: "best-effort:7"}
	if c.Limits != want {
		t.Errorf("limits %+v, want %+v", c.Limits, want)
	}
	for _, bad := range []string{
		"limits: {bandwidth: fast}\n", "limits: {cpu: -1}\n", "limits: {cpu: two}\n", "limits: {nice: 20}\n",
		"limits: {nice: -5}\n", "limits: {ionice: realtime}\n", "limits: {ionice: \"best-effort:9\"}\n", "limits: 5\n",
	} {
		if _, err := Parse([]byte(base+bad), "ncsync.yaml"); err == nil || !strings.Contains(err.Error(), "limits") {
			t.Errorf("%q: err %v, want one naming the limits key", bad, err)
		}
	}
}
