package main

import (
	"strings"
	"testing"
)

func TestParsePoint(t *testing.T) {
	for _, tc := range []struct {
		in, folder string
		want       uint64
		err        string
	}{
		{"1042", "data", 1042, ""},
		{" 7\n", "data", 7, ""},
		{"data=1042 webroot=377", "webroot", 377, ""},
		{"data=1042,webroot=377\n", "data", 1042, ""},
		{"data=1042 webroot=377", "other", 0, "names folders data, webroot, not other"},
		{"data=x", "data", 0, "sequence of folder data"},
		{"data", "data", 0, "want a sequence number or ID=SEQ pairs"},
		{"", "data", 0, "is empty"},
		{"-3", "data", 0, "want a sequence number"},
	} {
		got, err := parsePoint("since", tc.in, tc.folder)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parsePoint(%q, %q) = %d, %v; want %d, %q", tc.in, tc.folder, got, err, tc.want, tc.err)
		}
	}
}
