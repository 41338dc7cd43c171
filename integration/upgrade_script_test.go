package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestUpgradeScriptOrder runs examples/upgrade.sh with stand-ins for
// sudo (which runs occ) and ncsync that record every call, and checks the
// order: a barrier right after maintenance mode goes on and before the
// upgrade; a failure of that barrier stops before anything changes and
// turns maintenance mode off again; a failure after the upgrade leaves it
// on.
func TestUpgradeScriptOrder(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "examples", "upgrade.sh")
	for _, tc := range []struct {
		name     string
		failCall int // the ncsync barrier call (1-based) that fails; 0: none
		want     []string
		wantExit bool // exit 0
	}{
		{"all well", 0, []string{"barrier", "occ maintenance:mode --on", "barrier", "upgrade", "barrier", "occ maintenance:mode --off"}, true},
		{"secondary cannot confirm maintenance mode", 2, []string{"barrier", "occ maintenance:mode --on", "barrier", "occ maintenance:mode --off"}, false},
		{"secondary lags after the upgrade", 3, []string{"barrier", "occ maintenance:mode --on", "barrier", "upgrade", "barrier"}, false},
		{"secondary lags before", 1, []string{"barrier"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			calls := filepath.Join(dir, "calls")
			bin := filepath.Join(dir, "bin")
			if err := os.Mkdir(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			stub := func(name, body string) {
				if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// sudo -u USER php OCC ARGS...: record "occ ARGS".
			stub("sudo", `shift 4; echo "occ $*" >> `+calls+"\n")
			stub("ncsync", `echo barrier >> `+calls+`
n=$(grep -c barrier `+calls+`)
[ "$n" = "$FAIL_CALL" ] && exit 3
exit 0
`)
			stub("fake-upgrade", `echo upgrade >> `+calls+"\n")
			cmd := exec.Command("bash", script, "--", "fake-upgrade")
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAIL_CALL="+strconv.Itoa(tc.failCall))
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.wantExit {
				t.Errorf("exit: %v, want success %v\n%s", err, tc.wantExit, out)
			}
			b, _ := os.ReadFile(calls)
			if got := strings.Split(strings.TrimSpace(string(b)), "\n"); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("calls:\n  %s\nwant:\n  %s\noutput:\n%s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "), out)
			}
		})
	}
}
