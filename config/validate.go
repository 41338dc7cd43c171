package config

import (
	"github.com/ncsync/ncsync/ignore"

	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/ncsync/ncsync/pki"
)

var (
	folderIDRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	groupNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)
)

// validateValues checks everything that does not need the file system.
func (c *Config) validateValues(p *problems) {
	if c.Node == "" {
		p.add("node", "required: this node's name, e.g. node: nfs1")
	} else if err := pki.ValidNodeName(c.Node); err != nil {
		p.add("node", "%v", err)
	}
	switch c.Role {
	case pki.RolePrimary:
		c.validatePrimary(p)
	case pki.RoleSecondary:
		c.validateSecondary(p)
	default:
		p.add("role", "required: primary or secondary")
	}
	c.validatePath(p, "state_dir", c.StateDir, "the directory for ncsync's index and conflicts, e.g. /var/lib/ncsync")
	c.validatePath(p, "control_socket", c.ControlSocket, "e.g. "+DefaultControlSocket)
	if c.ControlGroup != "" && !groupNameRe.MatchString(c.ControlGroup) {
		p.add("control_group", "invalid group name %q", c.ControlGroup)
	}
	if c.ControlAdminGroup != "" && !groupNameRe.MatchString(c.ControlAdminGroup) {
		p.add("control_admin_group", "invalid group name %q", c.ControlAdminGroup)
	}
	c.validateTLS(p)
	if c.MetricsListen != "" {
		if err := checkHostPort(c.MetricsListen, true); err != nil {
			p.add("metrics_listen", "%v", err)
		}
	}
	c.validateHealth(p)
	if c.ScanInterval <= 0 {
		p.add("scan_interval", "must be greater than zero, not %v", c.ScanInterval)
	}
	if c.Watch.Quiet > c.Watch.MaxLatency {
		p.add("watch.max_latency", "%v is shorter than watch.quiet (%v): a changing path would be read before it could ever be quiet", c.Watch.MaxLatency, c.Watch.Quiet)
	}
	c.validateFolders(p)
	c.validateConflicts(p)
	c.validatePromote(p)
}

func (c *Config) validatePrimary(p *problems) {
	if c.Listen == "" {
		p.at(p.pos["role"], "listen", "required for role primary: the host:port secondaries connect to, e.g. listen: 0.0.0.0:7300")
	} else if err := checkHostPort(c.Listen, true); err != nil {
		p.add("listen", "%v", err)
	}
	if c.Primary != "" || c.PrimaryNode != "" {
		p.add("primary", "only a secondary follows a primary: remove it, or set role: secondary")
	}
	if len(c.Promotable) > 0 {
		p.add("promotable", "only a secondary follows a promoted node: remove it, or set role: secondary")
	}
	c.validateNodeList(p, "secondaries", c.Secondaries, "secondary")
	if _, set := p.pos["watch.repair"]; set {
		p.add("watch.repair", "only a secondary repairs its own tree: remove it, or set role: secondary")
	}
}

// validateNodeList checks a list of other nodes' names under key: valid,
// not this node, no duplicates. what names an element in messages.
func (c *Config) validateNodeList(p *problems, key string, names []string, what string) {
	seen := map[string]int{}
	for i, name := range names {
		k := fmt.Sprintf("%s[%d]", key, i)
		if err := pki.ValidNodeName(name); err != nil {
			p.add(k, "%v", err)
		} else if name == c.Node {
			p.add(k, "%q is this node (node: %s), not a %s", name, c.Node, what)
		} else if j, dup := seen[name]; dup {
			p.add(k, "duplicate %s %q (also %s[%d])", what, name, key, j)
		}
		seen[name] = i
	}
}

func (c *Config) validateSecondary(p *problems) {
	switch {
	case c.Primary == "" && c.PrimaryNode == "":
		p.at(p.pos["role"], "primary", "required for role secondary: the primary's node name and host:port, e.g. primary: nfs1@nfs1.example:7300")
	case c.PrimaryNode == "":
		p.add("primary", "%q names no node: write NODE@HOST:PORT, NODE being the node name in the primary's certificate, e.g. primary: nfs1@%s (a secondary follows only the node it names)", c.Primary, c.Primary)
	default:
		if err := pki.ValidNodeName(c.PrimaryNode); err != nil {
			p.add("primary", "%v", err)
		} else if c.PrimaryNode == c.Node {
			p.add("primary", "%q is this node (node: %s): a secondary follows another node", c.PrimaryNode, c.Node)
		}
		if err := checkHostPort(c.Primary, false); err != nil {
			p.add("primary", "%v", err)
		}
	}
	c.validateNodeList(p, "promotable", c.Promotable, "promotable node")
	if c.Listen != "" {
		p.add("listen", "only a primary listens; a secondary connects to primary: remove it, or set role: primary")
	}
	if len(c.Secondaries) > 0 {
		p.add("secondaries", "only a primary has secondaries: remove it, or set role: primary")
	}
}

func (c *Config) validateTLS(p *problems) {
	if c.TLS == (TLS{}) {
		p.add("tls", "required: {ca: FILE, cert: FILE, key: FILE}, as made by ncsync certs init and ncsync certs issue")
		return
	}
	if c.TLS.CRL != "" && !filepath.IsAbs(c.TLS.CRL) {
		p.add("tls.crl", "%q must be an absolute path", c.TLS.CRL)
	}
	for _, f := range []struct{ key, val string }{{"tls.ca", c.TLS.CA}, {"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key}} {
		if f.val == "" {
			line := p.pos[f.key]
			if line == 0 {
				line = p.pos["tls"]
			}
			p.at(line, f.key, "required")
		} else if !filepath.IsAbs(f.val) {
			p.add(f.key, "%q must be an absolute path", f.val)
		}
	}
}

// validatePath checks a required absolute, clean path.
func (c *Config) validatePath(p *problems, key, path, hint string) {
	switch {
	case path == "":
		p.add(key, "required: %s", hint)
	case !filepath.IsAbs(path):
		p.add(key, "%q must be an absolute path", path)
	case filepath.Clean(path) != path:
		p.add(key, "%q is not clean (want %q)", path, filepath.Clean(path))
	}
}

func (c *Config) validateFolders(p *problems) {
	if len(c.Folders) == 0 {
		line := p.pos["folders"]
		p.at(line, "folders", "at least one folder is required (- id: ID, path: PATH)")
		return
	}
	seen := map[string]int{}
	for i, f := range c.Folders {
		prefix := fmt.Sprintf("folders[%d]", i)
		switch {
		case f.ID == "":
			p.at(p.pos[prefix], prefix+".id", "required: a name for the folder, the same on every node")
		case !folderIDRe.MatchString(f.ID):
			p.add(prefix+".id", "invalid folder id %q: use 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit", f.ID)
		default:
			if j, dup := seen[f.ID]; dup {
				p.add(prefix+".id", "duplicate folder id %q (also folders[%d])", f.ID, j)
			}
			seen[f.ID] = i
		}
		if f.Path == "" {
			p.at(p.pos[prefix], prefix+".path", "required: the folder's absolute path")
		} else {
			c.validatePath(p, prefix+".path", f.Path, "")
		}
		for j, pat := range f.Ignore {
			if _, err := ignore.New([]string{pat}); err != nil {
				p.add(fmt.Sprintf("%s.ignore[%d]", prefix, j), "%v", err)
			}
		}
		for j, pat := range f.HoldEmpty {
			if _, err := ignore.New([]string{pat}); err != nil {
				p.add(fmt.Sprintf("%s.hold_empty[%d]", prefix, j), "%v", err)
			}
		}
	}
}

// checkHostPort checks host:port with a numeric port; port 0 (any free
// port) and an empty host (all addresses) only if listening.
func checkHostPort(s string, listening bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", s, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	if n == 0 && !listening {
		return fmt.Errorf("%q: port 0 is only for listening", s)
	}
	if host == "" && !listening {
		return fmt.Errorf("%q: the host is missing", s)
	}
	return nil
}
