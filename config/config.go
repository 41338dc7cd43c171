package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/pki"
)

// Defaults for optional keys.
const (
	DefaultControlSocket = "/run/ncsync/control.sock"
	DefaultScanInterval  = 10 * time.Second
	DefaultQuiet         = 75 * time.Millisecond
	DefaultMaxLatency    = 500 * time.Millisecond
	DefaultAudit         = time.Hour
	DefaultHoldEmptyFor  = 10 * time.Second
)

// DefaultHoldEmpty are the files a folder holds back while they are empty
// (see Folder.HoldEmpty): Nextcloud's config files, relative to the
// webroot. Nextcloud loads config/config.php and every config/*.config.php,
// and an app server that includes an empty one shows the installation
// wizard.
var DefaultHoldEmpty = []string{"/config/config.php", "/config/*.config.php"}

// maxSize bounds a config file; anything larger is not a config file.
const maxSize = 1 << 20

// TLS names the PEM files of the cluster CA and of this node's certificate
// and key (see package pki), and optionally the CA's revocation list (crl,
// written by ncsync certs revoke): a peer whose certificate it lists is
// refused at the handshake. The daemon reloads it on SIGHUP.
type TLS struct {
	CA, Cert, Key, CRL string
}

// Watch tunes how the primary turns file system events into scans, and
// how a secondary watches and audits its own tree for local changes
// (which it repairs).
type Watch struct {
	// Quiet is how long a path must see no event before it is scanned.
	Quiet time.Duration
	// MaxLatency is how long a path that keeps changing may wait before
	// it is scanned anyway (and scanned again if it changed while read).
	MaxLatency time.Duration `yaml:"max_latency"`
	// AuditInterval is how often a full stat walk looks for changes the
	// watcher cannot see (writes through mmap, events lost to a crash).
	AuditInterval time.Duration `yaml:"audit_interval"`
	// Repair (secondary only, default true) makes a secondary watch and
	// audit its own tree and put back what was changed there by hand.
	// False leaves local changes in place until the primary changes the
	// same paths (they are then kept in the conflict store), for example
	// to look at a damaged secondary with `ncsync verify` first.
	Repair bool
}

// Folder is one replicated directory tree.
type Folder struct {
	ID     string   // [a-z0-9][a-z0-9_-]{0,63}, the same on every node
	Path   string   // absolute and clean
	Ignore []string // gitignore-style patterns (package ignore), after the defaults
	// NoDefaultIgnores turns off the built-in ignore patterns.
	NoDefaultIgnores bool `yaml:"no_default_ignores"`
	// RefuseSymlinks makes a secondary refuse every symlink the primary
	// sends for this folder (a Nextcloud data directory holds none).
	RefuseSymlinks bool `yaml:"refuse_symlinks"`
	// StripSetID makes a secondary write files and directories that have
	// setuid or setgid bits on the primary without them; by default such
	// entries are refused.
	StripSetID bool `yaml:"strip_setid"`
	// ConflictsDir is conflicts.dir: where this folder's conflict store
	// lives, outside every folder (optional; see preserve.PlaceFor).
	ConflictsDir string
	// HoldEmpty (hold_empty) lists gitignore-style patterns of files that
	// are not sent while they are empty until they have stayed empty for
	// HoldEmptyFor; deletions are not held. Unset: DefaultHoldEmpty; an
	// empty list holds nothing.
	HoldEmpty    []string      `yaml:"hold_empty"`
	HoldEmptyFor time.Duration `yaml:"hold_empty_for"` // default DefaultHoldEmptyFor
}

// Config is one node's configuration.
type Config struct {
	Node          string
	Role          pki.Role
	StateDir      string // state_dir, absolute
	ControlSocket string // control_socket, absolute
	ControlGroup  string // control_group: group whose members may run the read-only control commands (optional)

	// ControlAdminGroup is control_admin_group (optional): its members may
	// also run the control commands that change replication (barrier,
	// pause, resume, snapshot, promote).
	ControlAdminGroup string

	Listen        string        // primary: host:port to listen on
	Primary       string        // secondary: host:port of the primary (primary: NODE@HOST:PORT)
	PrimaryNode   string        // secondary: the node the primary's certificate must name (NODE of primary:)
	Promotable    []string      // promotable: secondary: nodes it follows once their lineage shows them promoted
	Secondaries   []string      // primary: the peer node names a barrier waits for
	TLS           TLS           // tls
	MetricsListen string        // metrics_listen: host:port (optional)
	ScanInterval  time.Duration // scan_interval: rescans of directories the watcher cannot watch, > 0
	Watch         Watch         // watch
	Log           Log           // log
	HealthListen  string        // health_listen: host:port of the health check (optional)
	Health        Health        // health
	Limits        Limits        // limits
	StageLimit    int64         // stage_limit: secondary: bytes it may stage while paused (0: none)
	Conflicts     Conflicts     // conflicts: limits of each conflict store (conflicts.go)
	Folders       []Folder
	Promote       *Promote // promote: secondary only, optional (see promote.go)
	Path          string   // the file it was loaded from (not a YAML key)

	// pos maps keys ("tls.ca", "folders[1].path") to the lines they were
	// read from, so that Validate can point at them.
	pos map[string]int
	// file is the name given to Parse.
	file string
}

// Load reads, parses and validates the file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config %q: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %q: %w", path, err)
	}
	c, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	c.Path = path
	return c, nil
}

// Parse decodes a configuration, fills in defaults and validates it,
// including the file system checks (see Validate). name is used in error
// messages.
func Parse(data []byte, name string) (*Config, error) {
	c, err := decode(data, name)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Folder returns the folder with the given id.
func (c *Config) Folder(id string) (Folder, bool) {
	for _, f := range c.Folders {
		if f.ID == id {
			return f, true
		}
	}
	return Folder{}, false
}

// DBPath is the index database file under the state directory.
func (c *Config) DBPath() string {
	return filepath.Join(c.StateDir, "index.db")
}

// Validate checks the configuration: required keys, values, and the file
// system (folders exist and are directories, and neither folders nor the
// state and control socket directories overlap, after resolving symlinks).
// A Config from Parse refers to its file and lines.
func (c *Config) Validate() error {
	p := &problems{file: c.file, pos: c.pos}
	c.validateValues(p)
	c.checkFileSystem(p)
	c.checkConflictDirs(p)
	return p.err()
}

// IgnorePatterns returns the folder's ignore patterns: the built-in
// Nextcloud defaults (ignore.NextcloudDefaults) unless no_default_ignores
// is set, followed by the folder's own, which can extend them or, with
// "!pattern", make exceptions to them.
func (f Folder) IgnorePatterns() []string {
	if f.NoDefaultIgnores {
		return slices.Clone(f.Ignore)
	}
	return slices.Concat(ignore.NextcloudDefaults, f.Ignore)
}
