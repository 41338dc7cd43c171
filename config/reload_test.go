package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestKeysComplete: every key the decoder reads has a reload decision in
// Keys, and Keys names no key the decoder does not read.
func TestKeysComplete(t *testing.T) {
	table := map[string]bool{}
	for _, k := range Keys {
		if table[k.Name] {
			t.Errorf("Keys lists %q twice", k.Name)
		}
		table[k.Name] = true
	}
	for _, k := range documentedKeys() {
		if !table[k] {
			t.Errorf("config key %q has no entry in Keys: decide whether SIGHUP reloads it", k)
		}
		delete(table, k)
	}
	for k := range table {
		t.Errorf("Keys lists %q, which the decoder does not read", k)
	}
}

// TestConfigurationDocReload: the Reload column of docs/configuration.md
// says what Keys says.
func TestConfigurationDocReload(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	said := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 5 || !strings.HasPrefix(strings.TrimSpace(cols[1]), "`") {
			continue
		}
		reload := strings.Fields(cols[3])
		for _, k := range strings.Split(cols[1], ",") {
			if k = strings.Trim(strings.TrimSpace(k), "`"); len(reload) > 0 {
				said[k] = reload[0]
			}
		}
	}
	for _, k := range Keys {
		want := "no"
		if k.Reloadable {
			want = "yes"
		}
		if said[k.Name] != want {
			t.Errorf("docs/configuration.md: %s reload %q, config.Keys says %s", k.Name, said[k.Name], want)
		}
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
