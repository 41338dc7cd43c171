package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/transport"
)

func TestVersionCommand(t *testing.T) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ncsync ") || !strings.HasPrefix(lines[1], "commit ") {
		t.Fatalf("version output:\n%s", out.String())
	}
	if lines[2] != runtime.Version() {
		t.Errorf("Go version line %q, want %q", lines[2], runtime.Version())
	}
	if want := fmt.Sprintf("replication protocol %d", transport.ProtocolVersion); lines[3] != want {
		t.Errorf("protocol line %q, want %q", lines[3], want)
	}
}

func TestVersionFromLinker(t *testing.T) {
	oldVersion, oldCommit := version, commit
	defer func() { version, commit = oldVersion, oldCommit }()
	version, commit = "9.8.7", "0123456789abcdef0123456789abcdef01234567"
	if got := readBuildInfo(); got.Version != version || got.Commit != commit {
		t.Errorf("version %q, commit %q; want the ones set at link time", got.Version, got.Commit)
	}
}

func TestManpages(t *testing.T) {
	dir := t.TempDir()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"manpages", "--dir", dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ncsync.1", "ncsync-run.1", "ncsync-barrier.1", "ncsync-version.1"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(".TH")) {
			t.Errorf("%s is not a man page:\n%.200s", name, b)
		}
	}
}
