package layout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const module = "github.com/ncsync/ncsync"

// pkg is the part of `go list -json` these tests read.
type pkg struct {
	ImportPath string
	Dir        string
	Doc        string
	Imports    []string
	Deps       []string
}

// listPackages returns every package of the module with its direct imports
// and its transitive dependencies (test files excluded: tests may reach
// across layers to build fixtures).
func listPackages(t *testing.T) []pkg {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH:", err)
	}
	cmd := exec.Command(goTool, "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func ours(deps []string) []string {
	var r []string
	for _, d := range deps {
		if d == module || strings.HasPrefix(d, module+"/") {
			r = append(r, strings.TrimPrefix(d, module+"/"))
		}
	}
	return r
}

func rel(p pkg) string { return strings.TrimPrefix(p.ImportPath, module+"/") }

func TestLayering(t *testing.T) {
	const protoPkg = "proto/ncsync/v1"
	for _, p := range listPackages(t) {
		name := rel(p)
		switch name {
		case "conflict", "chunker":
			// Pure logic: nothing of ncsync below them.
			if deps := ours(p.Deps); len(deps) > 0 {
				t.Errorf("%s must import nothing of ncsync; it depends on %v", name, deps)
			}
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/prometheus/") && name != "metrics" && name != "metrics/metricstest" && name != "cmd/ncsync" {
				t.Errorf("%s imports %s: only metrics and the composition root use the Prometheus client; add what it should count to the report (package report)", name, imp)
			}
		}
		for _, imp := range ours(p.Imports) {
			switch {
			case imp == "bench" && name != "cmd/ncsync":
				t.Errorf("%s imports bench: only the composition root (cmd/ncsync) may", name)
			case strings.HasPrefix(imp, "cmd/"):
				t.Errorf("%s imports %s: nothing imports a command", name, imp)
			case imp == protoPkg && name != "transport" && name != "control":
				t.Errorf("%s imports the generated protobuf types: they stay in transport and control", name)
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment: say its job in a sentence or two (in doc.go)", rel(p))
		}
	}
}

// history matches words about how the project was built rather than what it
// is: the work sessions, ticket numbers and the notes that closed them.
var history = regexp.MustCompile(`\b([Ss]ession [0-9]|[Ii]ssues? #?[0-9]|[Cc]losing notes?\b)`)

func TestSpeaksOfItself(t *testing.T) {
	root := moduleRoot(t)
	files := trackedFiles(t, root)
	for _, f := range files {
		if strings.HasSuffix(f, ".pb.go") || !textFile(f) {
			continue
		}
		fh, err := os.Open(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the work tree
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for n := 1; sc.Scan(); n++ {
			if m := history.FindString(sc.Text()); m != "" {
				t.Errorf("%s:%d speaks of how ncsync was built (%q): describe ncsync itself", f, n, m)
			}
		}
		fh.Close()
	}
}

func textFile(name string) bool {
	switch filepath.Ext(name) {
	case ".go", ".md", ".sh", ".yaml", ".yml", ".proto", ".txt", ".json", ".service", ".cfg", ".php", "":
		return true
	}
	return false
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// trackedFiles lists the files git tracks, or every file below root when
// the tree is not a git checkout.
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	if git, err := exec.LookPath("git"); err == nil {
		cmd := exec.Command(git, "ls-files", "-z")
		cmd.Dir = root
		if out, err := cmd.Output(); err == nil {
			return strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
		}
	}
	var files []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			r, _ := filepath.Rel(root, path)
			files = append(files, r)
		}
		return nil
	})
	return files
}
