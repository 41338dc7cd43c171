package config

import (
	"fmt"
	"log/slog"

	"gopkg.in/yaml.v3"
)

// Log says how the daemon logs.
type Log struct {
	// Format is text (logfmt, one line per record) or json.
	Format string
	// Level is the least important level written: debug, info, warn, error.
	Level slog.Level
}

// Log defaults.
const DefaultLogFormat = "text"

var logFields = map[string]field{
	"format": func(d *decoder, k string, v *yaml.Node) {
		var s string
		if d.str(k, v, &s); s == "" {
			return
		}
		if s != "text" && s != "json" {
			d.at(v.Line, k, "must be text or json, not %q", s)
			return
		}
		d.c.Log.Format = s
	},
	"level": func(d *decoder, k string, v *yaml.Node) {
		var s string
		if d.str(k, v, &s); s == "" {
			return
		}
		if err := d.c.Log.Level.UnmarshalText([]byte(s)); err != nil {
			d.at(v.Line, k, "must be debug, info, warn or error, not %q", s)
		}
	},
}

func (d *decoder) log(key string, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		d.at(v.Line, key, "must be a mapping {format: text, level: info}, not %s", describe(v))
		return
	}
	d.mapping(v, key, logFields)
}

// String is the level's config spelling.
func levelName(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelInfo:
		return "info"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return fmt.Sprint(l)
}
