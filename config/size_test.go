package config

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"512MiB", 512 << 20, true},
		{"2 GiB", 2 << 30, true},
		{"3GB", 3e9, true},
		{"10B", 10, true},
		{"1.5GiB", 0, false},
		{"-1", 0, false},
		{"GiB", 0, false},
		{"lots", 0, false},
		{"9999999TiB", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestStageLimit(t *testing.T) {
	root := tree(t)
	for _, tc := range []struct {
		line string
		want int64
		err  string
	}{
		{"", DefaultStageLimit, ""},
		{"stage_limit: 0\n", 0, ""},
		{"stage_limit: 256MiB\n", 256 << 20, ""},
		{"stage_limit: much\n", 0, "stage_limit"},
		{"stage_limit: [1]\n", 0, "stage_limit"},
	} {
		c, err := Parse([]byte(expand(validSecondary, root)+tc.line), "s.yaml")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one naming %s", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || c.StageLimit != tc.want {
			t.Errorf("%q: stage limit %d (%v), want %d", tc.line, c.StageLimit, err, tc.want)
		}
	}
}
