package integration

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ncsyncBin is the ncsync binary built by TestMain.
var ncsyncBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "ncsync-integration-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	ncsyncBin = filepath.Join(dir, "ncsync")
	if err := buildBinary(ncsyncBin); err != nil {
		fmt.Fprintln(os.Stderr, "integration: build ncsync:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds cmd/ncsync into out with the go tool of this toolchain.
func buildBinary(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join("/usr/local/go", "bin", "go")
	}
	if root, err := exec.Command(goTool, "env", "GOROOT").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(root)), "bin", "go"); fileExists(p) {
			goTool = p
		}
	}
	cmd := exec.Command(goTool, "build", "-o", out, "github.com/ncsync/ncsync/cmd/ncsync")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w\n%s", err, stderr.String())
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// skipShort skips heavy end-to-end tests under -short.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real daemons; skipped with -short")
	}
}
