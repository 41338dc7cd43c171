package config

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/pki"
)

var updateExamples = flag.Bool("update-examples", false, "rewrite examples/ncsync-*.yaml from Example")

// The example configs shipped in examples/ (and installed by the packages
// under /etc/ncsync/) are Example's output, so that they always name every
// key the code knows. Regenerate them with
//
//	go test ./config -run ExampleFiles -update-examples
func TestExampleFiles(t *testing.T) {
	for name, p := range map[string]ExampleParams{
		"ncsync-primary.yaml":   {Node: "nfs1", Role: pki.RolePrimary, Secondaries: []string{"nfs2"}},
		"ncsync-secondary.yaml": {Node: "nfs2", Role: pki.RoleSecondary},
	} {
		path := filepath.Join("..", "examples", name)
		want := Example(p)
		if *updateExamples {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (generate it with -update-examples)", err)
		}
		if string(got) != want {
			t.Errorf("%s differs from Example's output: run go test ./config -run ExampleFiles -update-examples", path)
		}
	}
}
