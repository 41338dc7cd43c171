package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// verifyLine is one line of `ncsync verify --json`.
type verifyLine struct {
	Kind        string   `json:"kind"`
	Peer        string   `json:"peer"`
	Folder      string   `json:"folder"`
	Path        string   `json:"path"`
	Aspects     []string `json:"aspects"`
	Detail      string   `json:"detail"`
	Sequence    uint64   `json:"sequence"`
	Compared    uint64   `json:"compared"`
	Differences uint64   `json:"differences"`
	Equal       bool     `json:"equal"`
	Error       string   `json:"error"`
}

// runVerify runs `ncsync verify --json` on the primary and returns its
// lines and exit code.
func (c *cluster) runVerify(args ...string) ([]verifyLine, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return c.runVerifyCtx(ctx, args...)
}

func (c *cluster) runVerifyCtx(ctx context.Context, args ...string) ([]verifyLine, string, int) {
	c.t.Helper()
	args = append([]string{"verify", "--json", "--socket", c.node(primaryName).socket}, args...)
	out, errOut, code, err := cliWith(ctx, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	var lines []verifyLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var v verifyLine
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			c.t.Fatalf("verify printed %q, not JSON: %v\nstderr: %s", l, err, errOut)
		}
		lines = append(lines, v)
	}
	return lines, errOut, code
}

// findings returns path → aspects of the lines of kind.
func findings(lines []verifyLine, kind string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		if l.Kind == kind {
			m[l.Path] = strings.Join(l.Aspects, ",")
		}
	}
	return m
}

// TestVerify: `ncsync verify` on the primary finds nothing on converged
// trees, then exactly the four kinds of damage done on the secondary
// behind ncsync's back: a flipped byte (same size and mtime), a changed
// mode, a missing file, an extra file. A file rewritten all the time on
// the primary during a verify is never reported as a difference. The
// secondary does not repair its tree (watch.repair: false), which would
// undo the damage before the verify sees it.
func TestVerify(t *testing.T) {
	skipShort(t)
	c := newCluster(t, clusterOptions{extraConfig: noRepair})
	c.start(primaryName)
	c.start("nfs2")
	prim, sec := c.tree(primaryName, "data"), c.tree("nfs2", "data")
	for i := range 30 {
		dir := filepath.Join(prim, fmt.Sprintf("d%d", i%3))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte(strings.Repeat(fmt.Sprintf("file %d\n", i), 500+i*100))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.txt", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("d0/f00.txt", filepath.Join(prim, "link")); err != nil {
		t.Fatal(err)
	}
	c.waitConsistent(context.Background(), "nfs2")

	lines, errOut, code := c.runVerify()
	if code != 0 {
		t.Fatalf("verify of converged trees: exit %d, want 0\n%v\nstderr: %s", code, lines, errOut)
	}
	last := lines[len(lines)-1]
	if last.Kind != "summary" || !last.Equal || last.Compared < 34 {
		t.Fatalf("summary %+v, want equal with at least 34 paths compared", last)
	}
	if i := slices.IndexFunc(lines, func(l verifyLine) bool { return l.Kind == "folder" }); i < 0 || lines[i].Sequence == 0 {
		t.Fatalf("no folder line naming the verified sequence: %+v", lines)
	}

	// Damage the secondary behind ncsync's back, keeping the parent
	// directories' mtimes so that only the damaged paths differ.
	keepMtime := func(p string, change func()) {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		change()
		if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	flipped := filepath.Join(sec, "d1", "f04.txt")
	keepMtime(flipped, func() {
		f, err := os.OpenFile(flipped, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, 777); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x01
		if _, err := f.WriteAt(b, 777); err != nil {
			t.Fatal(err)
		}
		f.Close()
	})
	if err := os.Chmod(filepath.Join(sec, "d2", "f05.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	keepMtime(filepath.Join(sec, "d0"), func() {
		if err := os.Remove(filepath.Join(sec, "d0", "f06.txt")); err != nil {
			t.Fatal(err)
		}
	})
	keepMtime(filepath.Join(sec, "d1"), func() {
		if err := os.WriteFile(filepath.Join(sec, "d1", "zz-extra.txt"), []byte("not on the primary\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})

	lines, errOut, code = c.runVerify("--peer", "nfs2")
	if code != 1 {
		t.Fatalf("verify of a damaged secondary: exit %d, want 1\n%+v\nstderr: %s", code, lines, errOut)
	}
	got := findings(lines, "difference")
	want := map[string]string{
		"d1/f04.txt":      "content",
		"d2/f05.txt":      "mode",
		"d0/f06.txt":      "missing",
		"d1/zz-extra.txt": "extra",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("differences %v, want %v\nall lines: %+v", got, want, lines)
	}
	for _, l := range lines {
		if l.Kind == "difference" && l.Peer != "nfs2" {
			t.Errorf("difference %q names peer %q", l.Path, l.Peer)
		}
	}
	if last := lines[len(lines)-1]; last.Kind != "summary" || last.Equal || last.Differences != 4 {
		t.Errorf("summary %+v, want 4 differences", last)
	}

	// The human form names each path and what differs.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, _, code, err := cliWith(ctx, "verify", "--socket", c.node(primaryName).socket)
	if err != nil || code != 1 {
		t.Fatalf("verify (text): exit %d, %v", code, err)
	}
	for _, s := range []string{"d1/f04.txt  content:", "d2/f05.txt  mode:", "d0/f06.txt  missing on the secondary", "d1/zz-extra.txt  extra on the secondary", "at sequence", "4 differences"} {
		if !strings.Contains(out, s) {
			t.Errorf("verify output lacks %q:\n%s", s, out)
		}
	}

	// Repair the secondary by hand, then verify while a file keeps
	// changing on the primary: it may be reported as changing or
	// resolved, never as a difference.
	if err := os.WriteFile(filepath.Join(sec, "d0", "f06.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	churn := filepath.Join(prim, "churn.txt")
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			os.WriteFile(churn, []byte(strings.Repeat(fmt.Sprintf("v%d ", i), 20_000+i%7)), 0o644)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	lines, errOut, _ = c.runVerify()
	close(stop)
	<-done
	for _, l := range lines {
		if l.Kind == "difference" && (l.Path == "churn.txt" || l.Path == "") {
			t.Errorf("a file changing during the verify was reported as a difference: %+v", l)
		}
		if l.Kind == "error" {
			t.Errorf("verify could not compare: %+v (stderr %s)", l, errOut)
		}
	}
	t.Logf("during churn: changing %v, resolved %v, differences %v",
		findings(lines, "changing"), findings(lines, "resolved"), findings(lines, "difference"))

	// A paused secondary is held at an earlier point: not verified, exit 2.
	c.mustCLI("pause", "--peer", "nfs2", "--socket", c.node(primaryName).socket)
	lines, errOut, code = c.runVerify()
	if code != 2 || !slices.ContainsFunc(lines, func(l verifyLine) bool { return l.Kind == "error" && strings.Contains(l.Error, "paused") }) {
		t.Errorf("verify of a paused secondary: exit %d, want 2 and an error saying it is paused\n%+v\nstderr: %s", code, lines, errOut)
	}
	c.mustCLI("resume", "--peer", "nfs2", "--socket", c.node(primaryName).socket)

	// A secondary that is not connected cannot be verified: exit 2, saying so.
	c.stop("nfs2")
	lines, errOut, code = c.runVerify()
	if code != 2 {
		t.Fatalf("verify with the secondary stopped: exit %d, want 2\n%+v\nstderr: %s", code, lines, errOut)
	}
	if i := slices.IndexFunc(lines, func(l verifyLine) bool { return l.Kind == "error" && strings.Contains(l.Error, "not connected") }); i < 0 {
		t.Errorf("no error line saying nfs2 is not connected: %+v", lines)
	}
}
