package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ncsync/ncsync/pki"
)

// field decodes the value of one key into the config.
type field func(d *decoder, key string, v *yaml.Node)

// decoder walks the YAML node tree; it never stops at the first problem.
type decoder struct {
	*problems
	c *Config
	// budget bounds the values read, since aliases can repeat a large
	// anchored value many times.
	budget int
}

// maxValues bounds the keys and list items a config may expand to.
const maxValues = 100_000

// spend uses up one value of the budget and reports false (once) when
// there is none left.
func (d *decoder) spend(line int) bool {
	d.budget--
	if d.budget == -1 {
		d.at(line, "", "more than %d keys and list items (aliases repeating a large value?)", maxValues)
	}
	return d.budget >= 0
}

// decode turns YAML into a Config with defaults applied, without
// validating values beyond their types.
func decode(data []byte, name string) (*Config, error) {
	c := &Config{file: name, pos: map[string]int{}}
	d := &decoder{problems: &problems{file: name, pos: c.pos}, c: c, budget: maxValues}
	if len(data) > maxSize {
		d.at(0, "", "file is larger than %d bytes", maxSize)
		return nil, d.err()
	}
	root, ok := d.document(data)
	if !ok {
		return nil, d.err()
	}
	if root.Kind != yaml.MappingNode {
		d.at(root.Line, "", "the file must be a mapping of keys (node:, role:, ...), not %s", describe(root))
		return nil, d.err()
	}
	d.mapping(root, "", topFields)
	if d.c.ControlSocket == "" {
		d.c.ControlSocket = DefaultControlSocket
	}
	if d.c.Log.Format == "" {
		d.c.Log.Format = DefaultLogFormat
	}
	if _, set := d.c.pos["watch.repair"]; !set {
		d.c.Watch.Repair = true
	}
	if _, set := d.c.pos["stage_limit"]; !set {
		d.c.StageLimit = DefaultStageLimit
	}
	for _, v := range []struct {
		dst *time.Duration
		def time.Duration
	}{ // unset keys; invalid values were reported
		{&d.c.ScanInterval, DefaultScanInterval},
		{&d.c.Watch.Quiet, DefaultQuiet},
		{&d.c.Watch.MaxLatency, DefaultMaxLatency},
		{&d.c.Watch.AuditInterval, DefaultAudit},
		{&d.c.Health.MaxLag, DefaultHealthMaxLag},
		{&d.c.Health.MaxDisconnected, DefaultHealthMaxDisconnected},
	} {
		if *v.dst == 0 {
			*v.dst = v.def
		}
	}
	d.c.conflictDefaults()
	for i := range d.c.Folders {
		f := &d.c.Folders[i]
		if f.HoldEmpty == nil {
			f.HoldEmpty = slices.Clone(DefaultHoldEmpty)
		}
		if f.HoldEmptyFor == 0 {
			f.HoldEmptyFor = DefaultHoldEmptyFor
		}
	}
	d.c.clean()
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// yamlLine matches yaml.v3 syntax errors, to move the line into Error.
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the yaml.v3 parser's (not scanner's) messages. It
// reports their lines 0-based (and none for the first line), while the
// scanner's are 1-based.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// syntaxError returns the 1-based line (0 if unknown) and the message of a
// yaml.v3 error.
func syntaxError(err error) (int, string) {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err.Error()
	}
	line, _ := strconv.Atoi(m[1]) // 0 when absent
	if parserProblems[m[2]] {
		line++
	}
	return line, m[2]
}

// document parses data as exactly one YAML document and returns its root.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.at(0, "", "the file is empty")
			return nil, false
		}
		line, msg := syntaxError(err)
		d.at(line, "", "invalid YAML: %s", msg)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.at(extra.Line, "", "more than one YAML document (---): put the whole configuration in one")
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		d.at(0, "", "the file is empty")
		return nil, false
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		d.at(root.Line, "", "the file is empty")
		return nil, false
	}
	return root, true
}

var topFields = map[string]field{
	"node":                func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.Node) },
	"role":                func(d *decoder, k string, v *yaml.Node) { d.role(k, v, &d.c.Role) },
	"state_dir":           func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.StateDir) },
	"control_socket":      func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.ControlSocket) },
	"control_group":       func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.ControlGroup) },
	"control_admin_group": func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.ControlAdminGroup) },
	"listen":              func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.Listen) },
	"primary":             func(d *decoder, k string, v *yaml.Node) { d.primary(k, v) },
	"promotable":          func(d *decoder, k string, v *yaml.Node) { d.strList(k, v, &d.c.Promotable) },
	"secondaries":         func(d *decoder, k string, v *yaml.Node) { d.strList(k, v, &d.c.Secondaries) },
	"tls": func(d *decoder, k string, v *yaml.Node) {
		d.tls(k, v, &d.c.TLS, "{ca: FILE, cert: FILE, key: FILE}")
	},
	"metrics_listen": func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.MetricsListen) },
	"scan_interval":  func(d *decoder, k string, v *yaml.Node) { d.duration(k, v, &d.c.ScanInterval) },
	"stage_limit":    func(d *decoder, k string, v *yaml.Node) { d.size(k, v, &d.c.StageLimit) },
	"watch":          func(d *decoder, k string, v *yaml.Node) { d.watch(k, v) },
	"log":            func(d *decoder, k string, v *yaml.Node) { d.log(k, v) },
	"health_listen":  func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.c.HealthListen) },
	"health":         func(d *decoder, k string, v *yaml.Node) { d.health(k, v) },
	"limits":         func(d *decoder, k string, v *yaml.Node) { d.limits(k, v) },
	"folders":        func(d *decoder, k string, v *yaml.Node) { d.folders(k, v) },
	"promote":        func(d *decoder, k string, v *yaml.Node) { d.promote(k, v) },
	"conflicts": func(d *decoder, k string, v *yaml.Node) {
		d.section(k, v, "{max_bytes: 10%, max_files: 10000}", conflictsFields)
	},
}

var watchFields = map[string]field{
	"quiet":          func(d *decoder, k string, v *yaml.Node) { d.duration(k, v, &d.c.Watch.Quiet) },
	"max_latency":    func(d *decoder, k string, v *yaml.Node) { d.duration(k, v, &d.c.Watch.MaxLatency) },
	"audit_interval": func(d *decoder, k string, v *yaml.Node) { d.duration(k, v, &d.c.Watch.AuditInterval) },
	"repair":         func(d *decoder, k string, v *yaml.Node) { d.bool(k, v, &d.c.Watch.Repair) },
}

func (d *decoder) watch(key string, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		d.at(v.Line, key, "must be a mapping {quiet: 75ms, max_latency: 500ms, audit_interval: 1h, repair: true}, not %s", describe(v))
		return
	}
	d.mapping(v, key, watchFields)
}

// tls decodes a mapping of TLS files into dst; want describes the
// mapping expected, for the error when v is not one.
func (d *decoder) tls(key string, v *yaml.Node, dst *TLS, want string) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		d.at(v.Line, key, "must be a mapping %s, not %s", want, describe(v))
		return
	}
	d.mapping(v, key, map[string]field{
		"ca":   func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &dst.CA) },
		"cert": func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &dst.Cert) },
		"key":  func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &dst.Key) },
		"crl":  func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &dst.CRL) },
	})
}

// primary decodes NODE@HOST:PORT into PrimaryNode and Primary; without an
// '@' the whole value is the address (Validate then asks for the node).
func (d *decoder) primary(key string, v *yaml.Node) {
	var s string
	d.str(key, v, &s)
	if node, addr, ok := strings.Cut(s, "@"); ok {
		d.c.PrimaryNode, d.c.Primary = node, addr
		return
	}
	d.c.Primary = s
}

// folderFields decode into the folder being read, the last in d.c.Folders.
var folderFields = map[string]field{
	"id":                 func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.folder().ID) },
	"path":               func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.folder().Path) },
	"ignore":             func(d *decoder, k string, v *yaml.Node) { d.strList(k, v, &d.folder().Ignore) },
	"no_default_ignores": func(d *decoder, k string, v *yaml.Node) { d.bool(k, v, &d.folder().NoDefaultIgnores) },
	"refuse_symlinks":    func(d *decoder, k string, v *yaml.Node) { d.bool(k, v, &d.folder().RefuseSymlinks) },
	"strip_setid":        func(d *decoder, k string, v *yaml.Node) { d.bool(k, v, &d.folder().StripSetID) },
	"hold_empty": func(d *decoder, k string, v *yaml.Node) {
		f := d.folder()
		if f.HoldEmpty = []string{}; !isNull(v) { // set, even to nothing: no default
			d.strList(k, v, &f.HoldEmpty)
		}
	},
	"hold_empty_for": func(d *decoder, k string, v *yaml.Node) { d.duration(k, v, &d.folder().HoldEmptyFor) },
	"conflicts": func(d *decoder, k string, v *yaml.Node) {
		d.section(k, v, "{dir: PATH}", folderConflictsFields)
	},
}

func (d *decoder) folder() *Folder { return &d.c.Folders[len(d.c.Folders)-1] }

func (d *decoder) folders(key string, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.SequenceNode {
		d.at(v.Line, key, "must be a list of folders (- id: ID, path: PATH), not %s", describe(v))
		return
	}
	for i, item := range v.Content {
		item = deref(item)
		if !d.spend(item.Line) {
			return
		}
		k := fmt.Sprintf("%s[%d]", key, i)
		d.pos[k] = item.Line
		if item.Kind != yaml.MappingNode {
			d.at(item.Line, k, "must be a mapping with id and path, not %s", describe(item))
			continue
		}
		d.c.Folders = append(d.c.Folders, Folder{})
		d.mapping(item, k, folderFields)
	}
}

// mapping decodes the keys of m with fields, reporting unknown, duplicate
// and non-string keys. Keys under prefix are recorded as "prefix.key".
func (d *decoder) mapping(m *yaml.Node, prefix string, fields map[string]field) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := deref(m.Content[i]), deref(m.Content[i+1])
		if !d.spend(k.Line) {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.at(k.Line, prefix, "a key must be a plain name, not %s", describe(k))
			continue
		}
		name := k.Value
		if line, dup := seen[name]; dup {
			d.at(k.Line, prefix, "duplicate key %q (first set at line %d)", name, line)
			continue
		}
		seen[name] = k.Line
		f, ok := fields[name]
		if !ok {
			d.at(k.Line, prefix, "unknown key %q%s", name, suggest(name, fields))
			continue
		}
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		d.pos[full] = k.Line
		f(d, full, v)
	}
}

// str reads a scalar as text. Null leaves dst empty (unset).
func (d *decoder) str(key string, v *yaml.Node, dst *string) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.ScalarNode {
		d.at(v.Line, key, "must be a string, not %s", describe(v))
		return
	}
	if t := v.ShortTag(); t != "" && t[0] == '!' && (len(t) < 2 || t[1] != '!') {
		d.at(v.Line, key, "unsupported YAML tag %q", v.Tag)
		return
	}
	*dst = v.Value
}

func (d *decoder) strList(key string, v *yaml.Node, dst *[]string) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.SequenceNode {
		d.at(v.Line, key, "must be a list of strings ([a, b]), not %s", describe(v))
		return
	}
	out := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		item = deref(item)
		if !d.spend(item.Line) {
			return
		}
		k := fmt.Sprintf("%s[%d]", key, i)
		d.pos[k] = item.Line
		if item.Kind != yaml.ScalarNode || isNull(item) {
			d.at(item.Line, k, "must be a string, not %s", describe(item))
			continue
		}
		out = append(out, item.Value)
	}
	*dst = out
}

func (d *decoder) bool(key string, v *yaml.Node, dst *bool) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(dst) != nil {
		d.at(v.Line, key, "must be true or false, not %s", describe(v))
	}
}

func (d *decoder) role(key string, v *yaml.Node, dst *pki.Role) {
	var s string
	if d.str(key, v, &s); s == "" {
		return
	}
	r, err := pki.ParseRole(s)
	if err != nil {
		d.at(v.Line, key, "%v", err)
		return
	}
	*dst = r
}

func (d *decoder) duration(key string, v *yaml.Node, dst *time.Duration) {
	var s string
	if d.str(key, v, &s); s == "" {
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.at(v.Line, key, "invalid duration %q: use a Go duration such as \"2s\", \"500ms\" or \"1m30s\"", s)
		return
	}
	if dur <= 0 {
		d.at(v.Line, key, "must be greater than zero, not %q", s)
		return
	}
	*dst = dur
}

// clean cleans absolute paths; relative ones are left for Validate to
// report as they were written.
func (c *Config) clean() {
	for _, p := range []*string{&c.StateDir, &c.ControlSocket} {
		if filepath.IsAbs(*p) {
			*p = filepath.Clean(*p)
		}
	}
	for i := range c.Folders {
		if p := &c.Folders[i].Path; filepath.IsAbs(*p) {
			*p = filepath.Clean(*p)
		}
	}
}

// deref follows an alias (*name) to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's kind for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "empty"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// suggest returns ` (did you mean "x"?)` for the known key closest to name,
// if it is close enough to be a typo.
func suggest(name string, fields map[string]field) string {
	best, bestDist := "", 3
	for k := range fields {
		if dist := editDistance(name, k); dist < bestDist || dist == bestDist && best != "" && k < best {
			best, bestDist = k, dist
		}
	}
	if best == "" || bestDist >= len(name) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, capped at 10
// to bound the work on long keys.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 10
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], 10)
}
