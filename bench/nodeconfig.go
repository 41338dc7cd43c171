package bench

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/ncsync/ncsync/pki"
)

// NodeConfig is the config file of one daemon (docs/configuration.md), as
// the bench and the integration tests start their nodes with it.
type NodeConfig struct {
	Node          string         `yaml:"node"`
	Role          pki.Role       `yaml:"role"`
	StateDir      string         `yaml:"state_dir"`
	ControlSocket string         `yaml:"control_socket"`
	Listen        string         `yaml:"listen,omitempty"`
	Primary       string         `yaml:"primary,omitempty"` // NODE@HOST:PORT
	Secondaries   []string       `yaml:"secondaries,omitempty,flow"`
	ScanInterval  string         `yaml:"scan_interval,omitempty"`
	Watch         *WatchConfig   `yaml:"watch,omitempty"`
	TLS           TLSConfig      `yaml:"tls,flow"`
	Limits        *LimitsConfig  `yaml:"limits,omitempty"`
	Folders       []FolderConfig `yaml:"folders"`
	// Extra is more top-level YAML, written after the rest as it is.
	Extra string `yaml:"-"`
}

// WatchConfig is the watch block; empty keys are left to the daemon.
type WatchConfig struct {
	Quiet         string `yaml:"quiet,omitempty"`
	MaxLatency    string `yaml:"max_latency,omitempty"`
	AuditInterval string `yaml:"audit_interval,omitempty"`
}

// TLSConfig names a node's CA, certificate and key files.
type TLSConfig struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// LimitsConfig is the limits block.
type LimitsConfig struct {
	Bandwidth string `yaml:"bandwidth,omitempty"`
}

// FolderConfig is one replicated folder.
type FolderConfig struct {
	ID               string         `yaml:"id"`
	Path             string         `yaml:"path"`
	Ignore           []string       `yaml:"ignore,omitempty,flow"`
	NoDefaultIgnores bool           `yaml:"no_default_ignores,omitempty"`
	More             map[string]any `yaml:",inline"` // other keys of the folder
}

// Write writes nc to path, readable by its owner only (it names key files).
func (nc NodeConfig) Write(path string) error {
	b, err := yaml.Marshal(nc)
	if err != nil {
		return fmt.Errorf("config of %s: %w", nc.Node, err)
	}
	b = append(b, nc.Extra...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}
