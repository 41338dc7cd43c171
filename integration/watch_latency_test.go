package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchMaxLatency appends to a file every 20 ms, so that it is never
// quiet for the 75 ms quiet window: max_latency (500 ms) must make the
// primary read it anyway while it keeps changing. The writer goes on until
// the secondary holds a version of it (max_latency at work), and each
// version the secondary holds is a whole prefix of what was written (never
// torn); after the writing stops it holds the final content. How often the
// primary reads such a file is the debouncer's logic, tested on a fake
// clock in package watcher (TestDebouncerMaxLatency).
func TestWatchMaxLatency(t *testing.T) {
	skipShort(t)
	t.Parallel()
	w := newWatchCluster(t, watchConfig{})
	path := filepath.Join(w.root(), "logs/busy.log")
	writeFile(t, path, nil, 0o644)
	w.start("nfs2")
	w.startPrimary()
	w.waitSame(convergeTimeout, nil, nil)

	hashed0 := w.folderStatus().FilesHashed
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	mustOK(t, err)
	var written []byte
	sec := filepath.Join(w.sec(), "logs/busy.log")
	seen := map[int]bool{} // sizes seen on the secondary while writing
	// Without max_latency the file would never be read while written:
	// give up only long after any sane bound.
	deadline := time.Now().Add(convergeTimeout)
	for i := 0; len(seen) == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no version of a file appended to every 20 ms reached the secondary within %v: max_latency does not read busy files", convergeTimeout)
		}
		line := fmt.Appendf(nil, "line %04d %s\n", i, bytes.Repeat([]byte("x"), 60))
		_, err := f.Write(line)
		mustOK(t, err)
		written = append(written, line...)
		if got, err := os.ReadFile(sec); err == nil && len(got) > 0 && !seen[len(got)] {
			if !bytes.HasPrefix(written, got) {
				t.Fatalf("the secondary's copy (%d bytes) is not a prefix of what was written (%d bytes): torn", len(got), len(written))
			}
			seen[len(got)] = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	mustOK(t, f.Close())
	t.Logf("%d bytes written; the primary read the file %d times", len(written), w.folderStatus().FilesHashed-hashed0)
	w.waitSame(watchStepTimeout, nil, nil)
}
