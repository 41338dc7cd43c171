package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults of the conflicts section.
const (
	// DefaultConflictsMaxPercent: a conflict store may take this share of
	// its file system.
	DefaultConflictsMaxPercent = 10
	// DefaultConflictsMaxFiles bounds the records of a conflict store.
	DefaultConflictsMaxFiles = 10_000
)

// Conflicts bounds each conflict store (the `conflicts` section): what a
// secondary keeps of local changes before the primary's changes replace
// them. Local users choose what ends up there, so it is bounded; when a
// version would not fit, its entry waits (see README, "Conflicts and local
// changes").
type Conflicts struct {
	// MaxBytes is conflicts.max_bytes given as a size: the bytes the
	// records of one store may take on disk (allocated blocks). 0 when it
	// is given as a share of the file system (MaxPercent).
	MaxBytes int64
	// MaxPercent is conflicts.max_bytes given as "N%": that share of the
	// size of the store's file system (statfs). Default 10.
	MaxPercent float64
	// MaxFiles is conflicts.max_files: the records one store may hold.
	MaxFiles int
}

// The conflicts sections are decoded here, registered in the tables of
// decode.go so that they stay in one file.
var conflictsFields = map[string]field{
	"max_bytes": func(d *decoder, k string, v *yaml.Node) { d.sizeOrPercent(k, v, &d.c.Conflicts) },
	"max_files": func(d *decoder, k string, v *yaml.Node) { d.count(k, v, &d.c.Conflicts.MaxFiles) },
}

var folderConflictsFields = map[string]field{
	"dir": func(d *decoder, k string, v *yaml.Node) { d.str(k, v, &d.folder().ConflictsDir) },
}

// section decodes a mapping with fields; want describes it for the error
// when v is not one.
func (d *decoder) section(key string, v *yaml.Node, want string, fields map[string]field) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		d.at(v.Line, key, "must be a mapping %s, not %s", want, describe(v))
		return
	}
	d.mapping(v, key, fields)
}

// sizeOrPercent decodes conflicts.max_bytes: "N%" of the file system, or
// a size.
func (d *decoder) sizeOrPercent(key string, v *yaml.Node, dst *Conflicts) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.ScalarNode {
		d.at(v.Line, key, "must be a size such as \"20GiB\" or a share of the file system such as \"10%%\", not %s", describe(v))
		return
	}
	if num, ok := strings.CutSuffix(strings.TrimSpace(v.Value), "%"); ok {
		pct, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || !(pct > 0 && pct <= 100) {
			d.at(v.Line, key, "invalid share %q: want more than 0%% and at most 100%%, such as \"10%%\"", v.Value)
			return
		}
		dst.MaxBytes, dst.MaxPercent = 0, pct
		return
	}
	n, err := parseSize(v.Value)
	if err != nil {
		d.at(v.Line, key, "%v, or a share of the file system such as \"10%%\"", err)
		return
	}
	if n == 0 {
		d.at(v.Line, key, "must be more than 0: with no room, every local change would hold its folder back")
		return
	}
	dst.MaxBytes, dst.MaxPercent = n, 0
}

// count decodes a whole number of at least 1.
func (d *decoder) count(key string, v *yaml.Node, dst *int) {
	if isNull(v) {
		return
	}
	n, err := strconv.ParseInt(v.Value, 10, 32)
	if v.Kind != yaml.ScalarNode || err != nil || n < 1 {
		d.at(v.Line, key, "must be a whole number of at least 1, not %s", describe(v))
		return
	}
	*dst = int(n)
}

// conflictDefaults fills in the conflicts keys left unset (0 in a Config
// built in code means the same defaults).
func (c *Config) conflictDefaults() {
	if c.Conflicts.MaxBytes == 0 && c.Conflicts.MaxPercent == 0 {
		c.Conflicts.MaxPercent = DefaultConflictsMaxPercent
	}
	if c.Conflicts.MaxFiles == 0 {
		c.Conflicts.MaxFiles = DefaultConflictsMaxFiles
	}
}

// validateConflicts checks the limits and each folder's conflicts.dir.
func (c *Config) validateConflicts(p *problems) {
	switch {
	case c.Conflicts.MaxBytes < 0:
		p.add("conflicts.max_bytes", "must not be negative")
	case c.Conflicts.MaxPercent < 0 || c.Conflicts.MaxPercent > 100:
		p.add("conflicts.max_bytes", "a share of %v%% is not between 0%% and 100%%", c.Conflicts.MaxPercent)
	}
	if c.Conflicts.MaxFiles < 0 {
		p.add("conflicts.max_files", "must not be negative, not %d", c.Conflicts.MaxFiles)
	}
	for i, f := range c.Folders {
		if f.ConflictsDir != "" {
			c.validatePath(p, fmt.Sprintf("folders[%d].conflicts.dir", i), f.ConflictsDir, "")
		}
	}
}

// checkConflictDirs checks that no folder's conflicts.dir is inside a
// folder (it would be replicated) or holds one.
func (c *Config) checkConflictDirs(p *problems) {
	for i, f := range c.Folders {
		if !filepath.IsAbs(f.ConflictsDir) {
			continue
		}
		key := fmt.Sprintf("folders[%d].conflicts.dir", i)
		real, err := resolve(f.ConflictsDir)
		if err != nil {
			p.add(key, "%v", err)
			continue
		}
		for _, g := range c.Folders {
			greal, err := filepath.EvalSymlinks(g.Path)
			if err != nil {
				continue // reported by checkFileSystem
			}
			if within(real, greal) || within(greal, real) {
				p.add(key, "%s overlaps folder %q (%s): kept versions would be replicated or replaced; put it outside every folder, on the file system of folder %q",
					showPath(f.ConflictsDir, real), g.ID, showPath(g.Path, greal), f.ID)
			}
		}
	}
}
