package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultStageLimit bounds what a paused secondary stores of the changes
// that arrive meanwhile (stage_limit).
const DefaultStageLimit = 1 << 30

// sizeUnits are the suffixes parseSize accepts, longest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// parseSize parses a byte count: a whole number with an optional unit
// ("512MiB", "2GB", "1048576").
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: use a whole number of bytes with an optional unit, such as \"512MiB\" or \"2GiB\"", s)
	}
	return n * mult, nil
}

// size decodes a byte count into dst; 0 is allowed.
func (d *decoder) size(key string, v *yaml.Node, dst *int64) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.ScalarNode {
		d.at(v.Line, key, "must be a size such as \"1GiB\", not %s", describe(v))
		return
	}
	n, err := parseSize(v.Value)
	if err != nil {
		d.at(v.Line, key, "%v", err)
		return
	}
	*dst = n
}
