package config

import (
	"strings"
	"testing"
)

func TestConflictsSection(t *testing.T) {
	root := tree(t)
	parse := func(extra, folderExtra string) (*Config, error) {
		return Parse([]byte(expand(validSecondary+folderExtra+extra, root)), "c.yaml")
	}
	c, err := parse("", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Conflicts != (Conflicts{MaxPercent: DefaultConflictsMaxPercent, MaxFiles: DefaultConflictsMaxFiles}) {
		t.Fatalf("defaults %+v", c.Conflicts)
	}
	for _, tc := range []struct {
		extra, folder string
		want          Conflicts
		dir           string
	}{
		{"conflicts: {max_bytes: 20GiB, max_files: 500}\n", "", Conflicts{MaxBytes: 20 << 30, MaxFiles: 500}, ""},
		{"conflicts: {max_bytes: 2.5%}\n", "", Conflicts{MaxPercent: 2.5, MaxFiles: DefaultConflictsMaxFiles}, ""},
		{"", "    conflicts: {dir: $D/kept}\n", Conflicts{MaxPercent: DefaultConflictsMaxPercent, MaxFiles: DefaultConflictsMaxFiles}, root + "/kept"},
	} {
		c, err := parse(tc.extra, tc.folder)
		if err != nil {
			t.Fatalf("%q %q: %v", tc.extra, tc.folder, err)
		}
		if c.Conflicts != tc.want || c.Folders[0].ConflictsDir != tc.dir {
			t.Fatalf("%q %q: parsed %+v, dir %q", tc.extra, tc.folder, c.Conflicts, c.Folders[0].ConflictsDir)
		}
	}
	for _, tc := range []struct{ extra, folder, want string }{
		{"conflicts: {max_bytes: 0}\n", "", "conflicts.max_bytes: must be more than 0"},
		{"conflicts: {max_bytes: 150%}\n", "", "conflicts.max_bytes: invalid share"},
		{"conflicts: {max_bytes: 0%}\n", "", "conflicts.max_bytes: invalid share"},
		{"conflicts: {max_bytes: lots}\n", "", "conflicts.max_bytes: invalid size"},
		{"conflicts: {max_files: 0}\n", "", "conflicts.max_files: must be a whole number of at least 1"},
		{"conflicts: {max_files: -3}\n", "", "conflicts.max_files: must be a whole number of at least 1"},
		{"conflicts: {maxbytes: 1GiB}\n", "", `unknown key "maxbytes"`},
		{"conflicts: 5\n", "", "conflicts: must be a mapping"},
		{"", "    conflicts: {dir: kept}\n", "folders[0].conflicts.dir: \"kept\" must be an absolute path"},
		{"", "    conflicts: {dir: $D/data/kept}\n", "folders[0].conflicts.dir: "},
		{"", "    conflicts: {dir: $D/link/kept}\n", "overlaps folder \"data\""},
		{"", "    conflicts: {dir: $D}\n", "overlaps folder \"data\""},
	} {
		_, err := parse(tc.extra, tc.folder)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: %v, want %q", tc.extra, tc.folder, err, tc.want)
		}
	}
}

func TestConflictsBuiltInCode(t *testing.T) {
	c := Config{Conflicts: Conflicts{MaxBytes: -1, MaxFiles: -1}}
	p := &problems{}
	c.validateConflicts(p)
	if err := p.err(); err == nil || !strings.Contains(err.Error(), "conflicts.max_bytes") || !strings.Contains(err.Error(), "conflicts.max_files") {
		t.Fatalf("validate = %v", err)
	}
}
