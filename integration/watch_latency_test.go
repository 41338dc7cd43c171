package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchMaxLatency appends to a file every 20 ms for 3 s, so that it is
// never quiet for the 75 ms quiet window: max_latency (500 ms) must make
// the primary read it anyway while it keeps changing. The secondary must
// hold versions of it before the writing stops, each a whole prefix of
// what was written (never torn), and the final content after. The primary
// must not read it much more often than every max_latency: each read of a
// file that is still changing is wasted work (a big one, for a large file).
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
	start := time.Now()
	for i := 0; time.Since(start) < 3*time.Second; i++ {
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
	reads := w.folderStatus().FilesHashed - hashed0
	t.Logf("%d bytes written in 3 s; the primary read the file %d times, the secondary held %d distinct versions meanwhile", len(written), reads, len(seen))
	// 3 s / 500 ms = 6 reads; twice that leaves room for reads retried
	// because the file changed while read.
	if reads > 12 {
		t.Errorf("the primary read a file that never went quiet %d times in 3 s, want about one per max_latency (500 ms)", reads)
	}
	if len(seen) < 2 {
		t.Errorf("the secondary held %d versions of a file written every 20 ms for 3 s, want several (max_latency 500 ms reads a file that never goes quiet)", len(seen))
	}
	w.waitSame(watchStepTimeout, nil, nil)
}
