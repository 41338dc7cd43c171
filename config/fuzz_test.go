package config

import (
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/pki"
)

// FuzzParse checks that Parse never panics, that every failure is a located
// *Error, and that what it accepts is valid and normalized.
func FuzzParse(f *testing.F) {
	root := tree(f)
	for _, tc := range errorCases {
		f.Add([]byte(caseSource(tc.src, root)))
	}
	f.Add([]byte(expand(validPrimary, root)))
	f.Add([]byte(expand(validSecondary, root)))
	f.Add([]byte(Example(ExampleParams{})))
	f.Add([]byte(Example(ExampleParams{Role: pki.RoleSecondary, StateDir: root + "/state", Folders: []Folder{{ID: "d", Path: root + "/data"}}})))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			for _, e := range configErrors(t, err) {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("badly located error %#v", e)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		if c.Role != pki.RolePrimary && c.Role != pki.RoleSecondary || c.ScanInterval <= 0 || len(c.Folders) == 0 {
			t.Fatalf("accepted %+v", c)
		}
		for _, fo := range c.Folders {
			if !filepath.IsAbs(fo.Path) || filepath.Clean(fo.Path) != fo.Path {
				t.Fatalf("folder path %q", fo.Path)
			}
		}
	})
}
