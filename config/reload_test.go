package config

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestKeysComplete: every key the decoder reads has a reload decision in
// Keys, and Keys names no key the decoder does not read.
func TestKeysComplete(t *testing.T) {
	tlsKeys := map[string]field{"ca": nil, "cert": nil, "key": nil, "crl": nil}
	sub := map[string]map[string]field{
		"watch": watchFields, "log": logFields, "health": healthFields, "limits": limitsFields,
		"conflicts": conflictsFields, "promote": promoteFields, "tls": tlsKeys, "folders": folderFields,
	}
	leaf := map[string]map[string]field{"folders[].conflicts": folderConflictsFields}
	var decoded []string
	for _, name := range slices.Sorted(maps.Keys(topFields)) {
		fields, ok := sub[name]
		if !ok {
			decoded = append(decoded, name)
			continue
		}
		prefix := name + "."
		if name == "folders" {
			decoded = append(decoded, "folders")
			prefix = "folders[]."
		}
		for _, s := range slices.Sorted(maps.Keys(fields)) {
			if more, ok := leaf[prefix+s]; ok {
				for _, l := range slices.Sorted(maps.Keys(more)) {
					decoded = append(decoded, prefix+s+"."+l)
				}
				continue
			}
			decoded = append(decoded, prefix+s)
		}
	}
	table := map[string]bool{}
	for _, k := range Keys {
		if table[k.Name] {
			t.Errorf("Keys lists %q twice", k.Name)
		}
		table[k.Name] = true
	}
	for _, k := range decoded {
		if !table[k] {
			t.Errorf("config key %q has no entry in Keys: decide whether SIGHUP reloads it", k)
		}
		delete(table, k)
	}
	for k := range table {
		t.Errorf("Keys lists %q, which the decoder does not read", k)
	}
}

func TestChanges(t *testing.T) {
	root := tree(t)
	if err := os.Mkdir(filepath.Join(root, "web2"), 0o755); err != nil {
		t.Fatal(err)
	}
	parse := func(t *testing.T, src string) *Config {
		t.Helper()
		c, err := Parse([]byte(expand(src, root)), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := parse(t, validPrimary)
	for _, tc := range []struct {
		name, from, to string
		want           []Change
	}{
		{"same", "", "", nil},
		{"reloadable", `secondaries: [nfs2, nfs3]`, `secondaries: [nfs2]
log: {level: debug}
limits: {bandwidth: 10MB/s}`, []Change{{"secondaries", true}, {"log.level", true}, {"limits.bandwidth", true}}},
		{"folder ignore", `ignore: ["/nextcloud.log", "*.part"]`, `ignore: ["*.part"]`, []Change{{"folders[data].ignore", true}}},
		{"node", "node: nfs1", "node: nfs9", []Change{{"node", false}}},
		{"folder path", "path: $D/web", "path: $D/web2", []Change{{"folders", false}}},
		{"folder option", "no_default_ignores: true", "no_default_ignores: true\n    refuse_symlinks: true",
			[]Change{{"folders[webroot].refuse_symlinks", false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := parse(t, strings.Replace(validPrimary, tc.from, tc.to, 1))
			if got := base.Changes(next); !slices.Equal(got, tc.want) {
				t.Errorf("Changes = %v, want %v", got, tc.want)
			}
		})
	}
}
