package config

import (
	"fmt"
	"reflect"
)

// Key is one config key and whether a running daemon takes a change of it
// on SIGHUP (reload) or only at its next start.
type Key struct {
	// Name is the key as written in the file, dotted; a folder's keys are
	// "folders[].NAME".
	Name string
	// Reloadable: SIGHUP applies a new value. A change of any other key
	// makes the daemon refuse the whole reload and keep its config.
	Reloadable bool
	// Note adds what a reload does beyond the flag, for the documentation.
	Note string

	get    func(*Config) any // top-level keys
	folder func(*Folder) any // folders[] keys
}

// Keys lists every config key with its reload behaviour, in the order of
// the documentation. It is the one place that decides what SIGHUP can
// change (the daemon's reload and the documentation read it).
var Keys = []Key{
	{Name: "node", get: func(c *Config) any { return c.Node }},
	{Name: "role", get: func(c *Config) any { return c.Role }},
	{Name: "state_dir", get: func(c *Config) any { return c.StateDir }},
	{Name: "control_socket", get: func(c *Config) any { return c.ControlSocket }},
	{Name: "control_group", get: func(c *Config) any { return c.ControlGroup }},
	{Name: "control_admin_group", get: func(c *Config) any { return c.ControlAdminGroup }},
	{Name: "listen", get: func(c *Config) any { return c.Listen }},
	{Name: "primary", get: func(c *Config) any { return [2]string{c.Primary, c.PrimaryNode} }},
	{Name: "promotable", get: func(c *Config) any { return c.Promotable }},
	{Name: "secondaries", Reloadable: true, get: func(c *Config) any { return c.Secondaries },
		Note: "a node no longer listed is refused at its next call and its sessions end"},
	{Name: "tls.ca", get: func(c *Config) any { return c.TLS.CA }},
	{Name: "tls.cert", get: func(c *Config) any { return c.TLS.Cert }, Note: renewal},
	{Name: "tls.key", get: func(c *Config) any { return c.TLS.Key }, Note: renewal},
	{Name: "tls.crl", get: func(c *Config) any { return c.TLS.CRL }, Note: "the file is read again at every SIGHUP; naming another file needs a restart"},
	{Name: "metrics_listen", get: func(c *Config) any { return c.MetricsListen }},
	{Name: "health_listen", get: func(c *Config) any { return c.HealthListen }},
	{Name: "health.max_lag", Reloadable: true, get: func(c *Config) any { return c.Health.MaxLag }},
	{Name: "health.max_disconnected", Reloadable: true, get: func(c *Config) any { return c.Health.MaxDisconnected }},
	{Name: "scan_interval", get: func(c *Config) any { return c.ScanInterval }},
	{Name: "watch.quiet", get: func(c *Config) any { return c.Watch.Quiet }},
	{Name: "watch.max_latency", get: func(c *Config) any { return c.Watch.MaxLatency }},
	{Name: "watch.audit_interval", get: func(c *Config) any { return c.Watch.AuditInterval }},
	{Name: "watch.repair", get: func(c *Config) any { return c.Watch.Repair }},
	{Name: "log.level", Reloadable: true, get: func(c *Config) any { return c.Log.Level }},
	{Name: "log.format", get: func(c *Config) any { return c.Log.Format }},
	{Name: "limits.bandwidth", Reloadable: true, get: func(c *Config) any { return c.Limits.Bandwidth }},
	{Name: "limits.bandwidth_per_peer", Reloadable: true, get: func(c *Config) any { return c.Limits.BandwidthPerPeer }},
	{Name: "limits.cpu", Reloadable: true, get: func(c *Config) any { return c.Limits.CPU }},
	{Name: "limits.nice", Reloadable: true, get: func(c *Config) any { return c.Limits.Nice }},
	{Name: "limits.ionice", Reloadable: true, get: func(c *Config) any { return c.Limits.IONice }},
	{Name: "stage_limit", get: func(c *Config) any { return c.StageLimit }},
	{Name: "conflicts.max_bytes", get: func(c *Config) any { return [2]any{c.Conflicts.MaxBytes, c.Conflicts.MaxPercent} }},
	{Name: "conflicts.max_files", get: func(c *Config) any { return c.Conflicts.MaxFiles }},
	{Name: "promote.listen", get: func(c *Config) any { return promoteOf(c).Listen }},
	{Name: "promote.secondaries", get: func(c *Config) any { return promoteOf(c).Secondaries }},
	{Name: "promote.tls", get: func(c *Config) any { return promoteOf(c).TLS }},
	{Name: "folders", get: func(c *Config) any { return folderPlaces(c) }},
	{Name: "folders[].id", folder: func(f *Folder) any { return f.ID }},
	{Name: "folders[].path", folder: func(f *Folder) any { return f.Path }},
	{Name: "folders[].ignore", Reloadable: true, folder: func(f *Folder) any { return f.Ignore },
		Note: "a primary watches and scans the folder again; a secondary checks what arrives from then on"},
	{Name: "folders[].no_default_ignores", Reloadable: true, folder: func(f *Folder) any { return f.NoDefaultIgnores }},
	{Name: "folders[].refuse_symlinks", folder: func(f *Folder) any { return f.RefuseSymlinks }},
	{Name: "folders[].strip_setid", folder: func(f *Folder) any { return f.StripSetID }},
	{Name: "folders[].hold_empty", folder: func(f *Folder) any { return f.HoldEmpty }},
	{Name: "folders[].hold_empty_for", folder: func(f *Folder) any { return f.HoldEmptyFor }},
	{Name: "folders[].conflicts.dir", folder: func(f *Folder) any { return f.ConflictsDir }},
}

// renewal is the note of the certificate and key files.
const renewal = "the files are read again at every SIGHUP (a renewed certificate for the same node and role); naming other files needs a restart"

func promoteOf(c *Config) Promote {
	if c.Promote == nil {
		return Promote{}
	}
	return *c.Promote
}

// folderPlaces is the list of folders as a reload sees it: their ids and
// paths, in order. Adding, removing or moving a folder needs a restart.
func folderPlaces(c *Config) [][2]string {
	out := make([][2]string, 0, len(c.Folders))
	for _, f := range c.Folders {
		out = append(out, [2]string{f.ID, f.Path})
	}
	return out
}

// Change is a key whose value differs between two configs.
type Change struct {
	// Key names the key, a folder's with its id: "folders[data].ignore".
	Key        string
	Reloadable bool
}

func (c Change) String() string { return c.Key }

// Changes lists the keys whose values differ from c to next, in the order
// of Keys. A folder's keys are compared only when the folders themselves
// (ids and paths, in order) are the same.
func (c *Config) Changes(next *Config) []Change {
	var out []Change
	samePlaces := reflect.DeepEqual(folderPlaces(c), folderPlaces(next))
	for _, k := range Keys {
		if k.get != nil {
			if !reflect.DeepEqual(k.get(c), k.get(next)) {
				out = append(out, Change{Key: k.Name, Reloadable: k.Reloadable})
			}
			continue
		}
		if !samePlaces {
			continue
		}
		for i := range c.Folders {
			if !reflect.DeepEqual(k.folder(&c.Folders[i]), k.folder(&next.Folders[i])) {
				name := fmt.Sprintf("folders[%s].%s", c.Folders[i].ID, k.Name[len("folders[]."):])
				out = append(out, Change{Key: name, Reloadable: k.Reloadable})
			}
		}
	}
	return out
}
