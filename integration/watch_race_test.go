package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchNewDirectoryRace creates, 1,000 times in a tight loop, a
// four-level directory path (mkdir -p) and at once a file at each level:
// the files land in directories the watcher has not watched yet, so only
// its "watch the new directory, then list it" rule finds them. Everything
// must reach the secondary, with no queue overflow (whose whole-folder
// rescan would hide a miss: the burst is about 12,000 events, below the
// kernel's default queue of 16,384).
func TestWatchNewDirectoryRace(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const rounds = 1000
	w := newWatchCluster(t, watchConfig{})
	root := w.root()
	mustOK(t, os.Mkdir(filepath.Join(root, "race"), 0o755))
	w.start("nfs2")
	w.startPrimary()
	w.waitSame(convergeTimeout, nil, nil)

	start := time.Now()
	for i := range rounds {
		top := filepath.Join(root, "race", fmt.Sprintf("r%04d", i))
		deepest := filepath.Join(top, "a", "b", "c")
		if err := os.MkdirAll(deepest, 0o755); err != nil {
			t.Fatal(err)
		}
		dir := top
		for level, name := range []string{"", "a", "b", "c"} {
			dir = filepath.Join(dir, name)
			data := fmt.Appendf(nil, "round %d level %d\n", i, level)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.txt", level)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	made := time.Since(start)
	took := w.waitSame(convergeTimeout, nil, nil)
	t.Logf("%d rounds (%d directories, %d files) made in %s; the secondary was equal %s later",
		rounds, 4*rounds, 4*rounds, made.Round(time.Millisecond), took.Round(time.Millisecond))

	// Count what arrived, in case the comparison above was fooled.
	n := 0
	for i := range rounds {
		p := filepath.Join(w.sec(), "race", fmt.Sprintf("r%04d", i), "a", "b", "c", "f3.txt")
		if data, err := os.ReadFile(p); err == nil && string(data) == fmt.Sprintf("round %d level 3\n", i) {
			n++
		}
	}
	if n != rounds {
		t.Errorf("%d of %d deepest files arrived whole", n, rounds)
	}
	fs := w.folderStatus()
	if fs.Overflows != 0 {
		t.Errorf("the watcher overflowed %d times during the burst, so a whole-folder rescan may have hidden missed directories (events must be drained promptly)", fs.Overflows)
	}
	if fs.AuditFindings != 0 || fs.Degraded != "" {
		t.Errorf("primary folder status %+v: want no audit findings and no degradation", fs)
	}
	t.Logf("primary folder status: watched %d directories, %d scans", fs.Watched, fs.Scans)
	if fs.Watched < 4*rounds+1 {
		t.Errorf("the primary watches %d directories, want at least %d (every new directory)", fs.Watched, 4*rounds+1)
	}
}
