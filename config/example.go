package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ncsync/ncsync/pki"
)

// ExampleParams fills in Example. Zero fields get the values of the example
// in DESIGN.md, except the optional ones (ControlGroup, ControlAdminGroup,
// Secondaries, MetricsListen, ScanInterval), which then appear commented
// out.
type ExampleParams struct {
	Node          string   // default nfs1
	Role          pki.Role // default primary
	StateDir      string   // default /var/lib/ncsync
	ControlSocket string   // default DefaultControlSocket
	ControlGroup  string
	// ControlAdminGroup is control_admin_group.
	ControlAdminGroup string
	Listen            string // primary; default 0.0.0.0:7300
	Primary           string // secondary; default nfs1.example:7300
	PrimaryNode       string // secondary; default nfs1
	Promotable        []string
	Secondaries       []string
	TLS               TLS // default /etc/ncsync/{ca,NODE}.pem, NODE.key
	MetricsListen     string
	ScanInterval      time.Duration
	Folders           []Folder // default webroot and data, as in DESIGN.md
}

func (p *ExampleParams) defaults() {
	if p.Node == "" {
		p.Node = "nfs1"
	}
	if p.Role != pki.RoleSecondary {
		p.Role = pki.RolePrimary
	}
	if p.StateDir == "" {
		p.StateDir = "/var/lib/ncsync"
	}
	if p.ControlSocket == "" {
		p.ControlSocket = DefaultControlSocket
	}
	if p.Listen == "" {
		p.Listen = "0.0.0.0:7300"
	}
	if p.Primary == "" {
		p.Primary = "nfs1.example:7300"
	}
	if p.PrimaryNode == "" {
		p.PrimaryNode = "nfs1"
	}
	if p.TLS.CA == "" {
		p.TLS.CA = "/etc/ncsync/ca.pem"
	}
	if p.TLS.Cert == "" {
		p.TLS.Cert = "/etc/ncsync/" + p.Node + ".pem"
	}
	if p.TLS.Key == "" {
		p.TLS.Key = "/etc/ncsync/" + p.Node + ".key"
	}
	if len(p.Folders) == 0 {
		p.Folders = []Folder{
			{ID: "webroot", Path: "/var/www/nextcloud"},
			{ID: "data", Path: "/srv/nextcloud/data", Ignore: []string{"/nextcloud.log", "/audit.log", "/*/uploads/", "*.part", "/updater-*/"}},
		}
	}
}

// Example returns a complete configuration file with every key explained,
// for `ncsync demo` and the documentation. It parses with Parse once the
// paths it names exist.
func Example(p ExampleParams) string {
	p.defaults()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# ncsync configuration for node %s (%s).\n", p.Node, p.Role)
	w("# Durations are Go durations (90s, 10m); paths must be absolute.\n\n")
	w("# This node's name: a lower-case DNS label, as in its certificate.\n")
	w("node: %s\n", scalar(p.Node))
	w("# primary or secondary: the primary's folders are replicated to its secondaries.\n")
	w("role: %s\n", p.Role)
	w("# ncsync's own state: the index (index.db) and kept conflict losers.\n")
	w("# Must not be inside a folder.\n")
	w("state_dir: %s\n", scalar(p.StateDir))
	w("# Unix socket of the control commands (status, barrier, pause, ...).\n")
	w("control_socket: %s\n", scalar(p.ControlSocket))
	w("# Groups admitted on the control socket besides root (names or numeric\n")
	w("# gids). Members of control_group may run the read-only commands\n")
	w("# (status, conflicts, verify); the socket belongs to this group.\n")
	optional(w, p.ControlGroup != "", "control_group", scalar(p.ControlGroup), "ncsync")
	w("# Members of control_admin_group may also run the commands that change\n")
	w("# replication (barrier, pause, resume, snapshot, promote); they must be\n")
	w("# in control_group too, to reach the socket.\n")
	optional(w, p.ControlAdminGroup != "", "control_admin_group", scalar(p.ControlAdminGroup), "ncsync-admin")
	listen := func(set bool) {
		w("# Where secondaries connect (host:port). Primary only.\n")
		optional(w, set, "listen", scalar(p.Listen), "0.0.0.0:7300")
		w("# The secondaries a barrier waits for (node names). Primary only.\n")
		optional(w, set && len(p.Secondaries) > 0, "secondaries", list(p.Secondaries), "[nfs2]")
	}
	primary := func(set bool) {
		w("# The primary to follow: NODE@HOST:PORT, NODE being the node name in\n")
		w("# the primary's certificate; a server presenting any other node's\n")
		w("# certificate is refused. Secondary only.\n")
		optional(w, set, "primary", scalar(p.PrimaryNode+"@"+p.Primary), "nfs1@nfs1.example:7300")
		w("# Nodes this secondary follows once they are promoted (ncsync promote):\n")
		w("# such a node is accepted only when its lineage shows it took over\n")
		w("# after the primary this node follows. Secondary only.\n")
		optional(w, set && len(p.Promotable) > 0, "promotable", list(p.Promotable), "[nfs3]")
	}
	if p.Role == pki.RolePrimary {
		listen(true)
		primary(false)
	} else {
		primary(true)
		listen(false)
	}
	w("# What this node serves once `ncsync promote` makes it the primary of a\n")
	w("# new epoch (no restart): listen, secondaries (list the old primary: it\n")
	w("# rejoins as one) and a primary certificate issued for this node in\n")
	w("# advance (ncsync certs issue --node %s --role primary); ca: tls.ca.\n", p.Node)
	w("# Secondary only; without it, promote is refused.\n")
	w("# promote:\n#   listen: 0.0.0.0:7300\n#   secondaries: [nfs1]\n")
	w("#   tls: {cert: /etc/ncsync/primary/%s.pem, key: /etc/ncsync/primary/%s.key}\n", p.Node, p.Node)
	w("# Cluster CA and this node's certificate and key, from\n")
	w("# `ncsync certs init` and `ncsync certs issue`; crl is the CA's\n")
	w("# revocation list (`ncsync certs revoke`), checked at every connection\n")
	w("# and reloaded on SIGHUP.\n")
	w("tls:\n  ca: %s\n  cert: %s\n  key: %s\n", scalar(p.TLS.CA), scalar(p.TLS.Cert), scalar(p.TLS.Key))
	optional(w, p.TLS.CRL != "", "  crl", scalar(p.TLS.CRL), "/etc/ncsync/crl.pem")
	w("# Prometheus metrics (host:port); off when unset.\n")
	optional(w, p.MetricsListen != "", "metrics_listen", scalar(p.MetricsListen), "127.0.0.1:9300")
	w("# Health check for the load balancer (host:port; off when unset): HTTP\n")
	w("# GET /health answers 200 or 503, and HAProxy's agent-check gets up,\n")
	w("# drain or down on the same port. A secondary is down while it catches\n")
	w("# up, lags more than health.max_lag or has been disconnected longer\n")
	w("# than health.max_disconnected; drain while paused for a snapshot.\n")
	w("# health_listen: 0.0.0.0:9301\n")
	w("# health: {max_lag: %s, max_disconnected: %s}\n", DefaultHealthMaxLag, DefaultHealthMaxDisconnected)
	w("# How often directories that inotify cannot watch (out of watches:\n")
	w("# see `ncsync status`) are rescanned.\n")
	optional(w, p.ScanInterval > 0, "scan_interval", scalar(p.ScanInterval.String()), DefaultScanInterval.String())
	w("# While paused (ncsync pause/snapshot), changes that arrive are stored\n")
	w("# under state_dir up to this size (0: none), and applied on resume;\n")
	w("# past it the primary holds them back. Secondary only.\n")
	w("# stage_limit: 1GiB\n")
	w("# Local versions kept before the primary's changes replace them (see\n")
	w("# `ncsync conflicts`) are bounded per conflict store: max_bytes on disk\n")
	w("# (a size, or a share of the store's file system) and max_files records.\n")
	w("# A version that does not fit holds its folder back at that entry until\n")
	w("# `ncsync conflicts prune` makes room. Secondary only.\n")
	w("# conflicts: {max_bytes: %d%%, max_files: %d}\n", DefaultConflictsMaxPercent, DefaultConflictsMaxFiles)
	w("# Change detection: a changed path is scanned once it has been quiet\n")
	w("# for quiet, or after max_latency if it keeps changing; a full stat\n")
	w("# walk every audit_interval finds what inotify cannot see. A secondary\n")
	w("# watches and audits its own tree the same way, and puts back what was\n")
	w("# changed there by hand (edits kept: see `ncsync conflicts`) unless\n")
	w("# repair: false (secondary only).\n")
	w("# watch: {quiet: %s, max_latency: %s, audit_interval: %s}\n", DefaultQuiet, DefaultMaxLatency, DefaultAudit)
	w("# Caps on what ncsync takes of this machine (all off by default):\n")
	w("# bandwidth (all secondaries together) and bandwidth_per_peer in bytes\n")
	w("# per second (primary); cpu: cores for hashing, compressing and\n")
	w("# applying; nice 1..19 and ionice (idle, best-effort:0..7) at start.\n")
	w("# limits: {bandwidth: 50MB/s, bandwidth_per_peer: 20MB/s, cpu: 1, nice: 10, ionice: idle}\n")
	w("# Logging: format text (one line per record) or json; level debug,\n")
	w("# info, warn or error. Repeated identical warnings are written once a\n")
	w("# minute with a count. The run command's --log-format and --log-level\n")
	w("# override these.\n")
	w("# log: {format: %s, level: %s}\n", DefaultLogFormat, levelName(0))
	w("# The replicated directory trees. The id names a folder on every node;\n")
	w("# ignore holds gitignore-style patterns relative to the folder root;\n")
	w("# no_default_ignores: true turns off the built-in patterns.\n")
	w("# On a secondary, refuse_symlinks: true refuses every symlink sent for\n")
	w("# the folder (recommended for the data directory), and strip_setid: true\n")
	w("# writes setuid/setgid files without those bits instead of refusing\n")
	w("# them. Both default to false.\n")
	w("# conflicts: {dir: PATH} puts a folder's conflict store at PATH (outside\n")
	w("# every folder, on the folder's file system); by default it is\n")
	w("# state_dir/conflicts, or .ncsync-conflicts at the folder root when\n")
	w("# state_dir is on another file system.\n")
	w("# hold_empty: files not sent while empty until they have stayed empty\n")
	w("# for hold_empty_for (an app server that includes an empty config.php\n")
	w("# shows the installation wizard); [] holds nothing. Default:\n")
	w("#   hold_empty: %s\n", list(DefaultHoldEmpty))
	w("#   hold_empty_for: %s\n", DefaultHoldEmptyFor)
	w("folders:\n")
	for _, f := range p.Folders {
		w("  - id: %s\n", scalar(f.ID))
		w("    path: %s\n", scalar(f.Path))
		if len(f.Ignore) > 0 {
			w("    ignore: %s\n", list(f.Ignore))
		}
		if f.NoDefaultIgnores {
			w("    no_default_ignores: true\n")
		}
		if f.RefuseSymlinks {
			w("    refuse_symlinks: true\n")
		}
		if f.StripSetID {
			w("    strip_setid: true\n")
		}
		if f.HoldEmpty != nil && !slices.Equal(f.HoldEmpty, DefaultHoldEmpty) {
			w("    hold_empty: %s\n", list(f.HoldEmpty))
		}
		if f.HoldEmptyFor != 0 && f.HoldEmptyFor != DefaultHoldEmptyFor {
			w("    hold_empty_for: %s\n", f.HoldEmptyFor)
		}
	}
	return b.String()
}

// optional writes key: value, or the key commented out with an example.
func optional(w func(string, ...any), set bool, key, value, example string) {
	if set {
		w("%s: %s\n", key, value)
	} else {
		w("# %s: %s\n", key, example)
	}
}

func list(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = scalar(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

var plainRe = regexp.MustCompile(`^[A-Za-z0-9_./@+-][A-Za-z0-9_./:@+-]*$`)

// scalar writes s plain when YAML reads it back as the same string (also
// inside a flow list), and double-quoted otherwise.
func scalar(s string) string {
	if plainRe.MatchString(s) {
		var n yaml.Node
		if yaml.Unmarshal([]byte("["+s+"]"), &n) == nil && len(n.Content) == 1 {
			if l := n.Content[0]; l.Kind == yaml.SequenceNode && len(l.Content) == 1 &&
				l.Content[0].ShortTag() == "!!str" && l.Content[0].Value == s {
				return s
			}
		}
	}
	return strconv.Quote(s)
}
