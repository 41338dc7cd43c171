package config

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits caps what ncsync takes of the machine it runs on.
type Limits struct {
	// Bandwidth caps the chunk data a primary sends to all secondaries
	// together, in bytes per second (0: no cap).
	Bandwidth int64
	// BandwidthPerPeer caps what it sends to each secondary.
	BandwidthPerPeer int64 `yaml:"bandwidth_per_peer"`
	// CPU is the number of cores ncsync's hash, compress and apply workers
	// may use at once (GOMAXPROCS; 0: all).
	CPU int
	// Nice is the scheduling niceness set at start (0: as started; 1..19
	// lower ncsync's priority).
	Nice int
	// IONice is the I/O scheduling class set at start: "" (as started),
	// "idle", or "best-effort" with an optional level 0..7
	// ("best-effort:7").
	IONice string `yaml:"ionice"`
}

var limitsFields = map[string]field{
	"bandwidth":          func(d *decoder, k string, v *yaml.Node) { d.rate(k, v, &d.c.Limits.Bandwidth) },
	"bandwidth_per_peer": func(d *decoder, k string, v *yaml.Node) { d.rate(k, v, &d.c.Limits.BandwidthPerPeer) },
	"cpu":                func(d *decoder, k string, v *yaml.Node) { d.intRange(k, v, &d.c.Limits.CPU, 0, 1024) },
	"nice":               func(d *decoder, k string, v *yaml.Node) { d.intRange(k, v, &d.c.Limits.Nice, 0, 19) },
	"ionice": func(d *decoder, k string, v *yaml.Node) {
		var s string
		if d.str(k, v, &s); s == "" {
			return
		}
		if _, _, err := ParseIONice(s); err != nil {
			d.at(v.Line, k, "%v", err)
			return
		}
		d.c.Limits.IONice = s
	},
}

func (d *decoder) limits(key string, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		d.at(v.Line, key, "must be a mapping {bandwidth: 10MB/s, bandwidth_per_peer: 5MB/s, cpu: 1, nice: 10, ionice: idle}, not %s", describe(v))
		return
	}
	d.mapping(v, key, limitsFields)
}

// rate decodes bytes per second: a size with an optional "/s" ("10MB/s").
func (d *decoder) rate(key string, v *yaml.Node, dst *int64) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.ScalarNode {
		d.at(v.Line, key, "must be a rate such as \"10MB/s\", not %s", describe(v))
		return
	}
	n, err := parseSize(strings.TrimSuffix(strings.TrimSpace(v.Value), "/s"))
	if err != nil {
		d.at(v.Line, key, "invalid rate %q: use bytes per second with an optional unit, such as \"10MB/s\" or \"50MiB/s\" (0: no cap)", v.Value)
		return
	}
	*dst = n
}

// intRange decodes a whole number within lo..hi.
func (d *decoder) intRange(key string, v *yaml.Node, dst *int, lo, hi int) {
	if isNull(v) {
		return
	}
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || err != nil || n < lo || n > hi {
		d.at(v.Line, key, "must be a whole number from %d to %d, not %s", lo, hi, describe(v))
		return
	}
	*dst = n
}

// IO scheduling classes (ioprio_set(2)).
const (
	IOClassBestEffort = 2
	IOClassIdle       = 3
)

// ParseIONice reads an ionice setting: "idle", "best-effort" or
// "best-effort:N" (N 0..7, 7 lowest).
func ParseIONice(s string) (class, level int, err error) {
	switch name, lv, hasLevel := strings.Cut(s, ":"); name {
	case "idle":
		if hasLevel {
			break
		}
		return IOClassIdle, 0, nil
	case "best-effort":
		if !hasLevel {
			return IOClassBestEffort, 4, nil
		}
		n, err := strconv.Atoi(lv)
		if err != nil || n < 0 || n > 7 {
			break
		}
		return IOClassBestEffort, n, nil
	}
	return 0, 0, &invalidIONice{s}
}

type invalidIONice struct{ s string }

func (e *invalidIONice) Error() string {
	return "invalid ionice " + strconv.Quote(e.s) + ": use idle, best-effort or best-effort:N (N 0..7, 7 lowest)"
}
