package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
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
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ncsync ") || !strings.HasPrefix(lines[1], "commit ") {
		t.Fatalf("version output:\n%s", out.String())
	}
	if lines[2] != runtime.Version() {
		t.Errorf("Go version line %q, want %q", lines[2], runtime.Version())
	}
}

func TestVersionFromLinker(t *testing.T) {
	old := version
	defer func() { version = old }()
	version = "9.8.7"
	if got := readBuildInfo().Version; got != "9.8.7" {
		t.Errorf("version %q, want the one set at link time", got)
	}
}
