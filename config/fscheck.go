package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkFileSystem checks that folders exist and are directories, and that
// folders, the state directory and the control socket do not overlap once
// symlinks are resolved, and that the TLS key is not replicated. Paths that are not absolute were reported by
// validateValues and are skipped here.
func (c *Config) checkFileSystem(p *problems) {
	type dir struct {
		key, desc string
		path      string // as configured
		real      string // symlinks resolved
	}
	var folders []dir
	for i, f := range c.Folders {
		if !filepath.IsAbs(f.Path) {
			continue
		}
		key := fmt.Sprintf("folders[%d].path", i)
		desc := fmt.Sprintf("folder %q", f.ID)
		fi, err := os.Stat(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			p.add(key, "%s: path %q does not exist: create it or fix the path", desc, f.Path)
			continue
		case err != nil:
			p.add(key, "%s: %v", desc, err)
			continue
		case !fi.IsDir():
			p.add(key, "%s: path %q is not a directory", desc, f.Path)
			continue
		}
		real, err := filepath.EvalSymlinks(f.Path)
		if err != nil {
			p.add(key, "%s: %v", desc, err)
			continue
		}
		folders = append(folders, dir{key: key, desc: desc, path: f.Path, real: real})
	}
	for i, a := range folders {
		for _, b := range folders[:i] {
			switch {
			case a.real == b.real:
				p.add(a.key, "%s is the same directory as %s (%s)", a.desc, b.desc, showPath(a.path, a.real))
			case within(a.real, b.real):
				p.add(a.key, "%s (%s) is inside %s (%s): folders must not overlap", a.desc, showPath(a.path, a.real), b.desc, showPath(b.path, b.real))
			case within(b.real, a.real):
				p.add(a.key, "%s (%s) contains %s (%s): folders must not overlap", a.desc, showPath(a.path, a.real), b.desc, showPath(b.path, b.real))
			}
		}
	}
	if filepath.IsAbs(c.StateDir) {
		real, err := resolve(c.StateDir)
		if err != nil {
			p.add("state_dir", "%v", err)
		} else if fi, err := os.Stat(c.StateDir); err == nil && !fi.IsDir() {
			p.add("state_dir", "%q is not a directory", c.StateDir)
		} else {
			for _, f := range folders {
				if within(real, f.real) {
					p.add("state_dir", "%s is inside %s (%s): ncsync's state would be replicated; move it out", showPath(c.StateDir, real), f.desc, showPath(f.path, f.real))
				} else if within(f.real, real) {
					p.add(f.key, "%s (%s) is inside state_dir (%s): move one of them", f.desc, showPath(f.path, f.real), showPath(c.StateDir, real))
				}
			}
		}
	}
	if filepath.IsAbs(c.TLS.Key) {
		if real, err := resolve(c.TLS.Key); err == nil {
			for _, f := range folders {
				if within(real, f.real) {
					p.add("tls.key", "%s is inside %s (%s): the private key would be replicated; move it out", showPath(c.TLS.Key, real), f.desc, showPath(f.path, f.real))
				}
			}
		}
	}
	if filepath.IsAbs(c.ControlSocket) {
		real, err := resolve(c.ControlSocket)
		if err != nil {
			p.add("control_socket", "%v", err)
			return
		}
		for _, f := range folders {
			if within(real, f.real) {
				p.add("control_socket", "%s is inside %s (%s); put it outside replicated folders", showPath(c.ControlSocket, real), f.desc, showPath(f.path, f.real))
			}
		}
	}
}

// resolve is filepath.EvalSymlinks for a path that may not exist yet: it
// resolves the deepest existing ancestor and appends the rest.
func resolve(path string) (string, error) {
	rest := ""
	for cur := path; ; {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolve %q: %w", path, err)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return path, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within reports whether path is dir or beneath it; both are clean and
// absolute.
func within(path, dir string) bool {
	if path == dir {
		return true
	}
	if dir == "/" {
		return true
	}
	return strings.HasPrefix(path, dir+"/")
}

// showPath quotes a path and, if symlinks changed it, what it resolves to.
func showPath(path, real string) string {
	if path == real {
		return fmt.Sprintf("%q", path)
	}
	return fmt.Sprintf("%q, which resolves to %q", path, real)
}
