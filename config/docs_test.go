package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// documentedKeys lists every key the decoder accepts, dotted as
// docs/configuration.md names them ("watch.quiet", "folders[].ignore").
func documentedKeys() []string {
	sections := map[string]map[string]field{
		"watch": watchFields, "log": logFields, "health": healthFields, "limits": limitsFields,
		"conflicts": conflictsFields, "promote": promoteFields,
	}
	var keys []string
	for k := range topFields {
		switch {
		case k == "tls":
			for _, sub := range []string{"ca", "cert", "key", "crl"} { // decoded by d.tls
				keys = append(keys, "tls."+sub)
			}
		case k == "folders":
			keys = append(keys, "folders")
			for fk := range folderFields {
				if fk == "conflicts" {
					for ck := range folderConflictsFields {
						keys = append(keys, "folders[].conflicts."+ck)
					}
					continue
				}
				keys = append(keys, "folders[]."+fk)
			}
		case sections[k] != nil:
			for sk := range sections[k] {
				keys = append(keys, k+"."+sk)
			}
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func TestConfigurationDocNamesEveryKey(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := documentedKeys()
	if len(keys) < 30 {
		t.Fatalf("only %d keys found in the decoder's tables: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/configuration.md does not document the key %s", k)
		}
	}
}
