package priority

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The settings change the whole test process, so each runs in a child.
func runChild(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), "PRIORITY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

func TestSetNiceEveryThread(t *testing.T) {
	if os.Getenv("PRIORITY_CHILD") == "" {
		runChild(t, t.Name())
		return
	}
	if err := SetNice(7); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir("/proc/self/task")
	if len(ents) < 2 {
		t.Fatalf("only %d threads: the test needs the runtime's threads", len(ents))
	}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/task/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Field 19 (nice) counted after the command name's closing paren.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if nice, _ := strconv.Atoi(f[16]); nice != 7 {
			t.Errorf("thread %s has nice %d, want 7", e.Name(), nice)
		}
	}
}

func TestSetIOIdle(t *testing.T) {
	if os.Getenv("PRIORITY_CHILD") == "" {
		runChild(t, t.Name())
		return
	}
	if err := SetIO(3, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("ionice"); err != nil {
		t.Skip("ionice(1) not installed: cannot read the class back")
	}
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		out, err := exec.Command("ionice", "-p", e.Name()).Output()
		if err != nil {
			continue // thread ended
		}
		if !strings.HasPrefix(strings.TrimSpace(string(out)), "idle") {
			t.Errorf("thread %s: ionice says %q, want idle", e.Name(), out)
		}
	}
}
