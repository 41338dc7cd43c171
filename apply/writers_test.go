package apply

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/ncsync/ncsync/index"
)

// TestWritersStopJoins: stop returns only once every queued write has run
// and every worker has exited.
func TestWritersStopJoins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := startWriters(2)
		gate := make(chan struct{})
		var ran atomic.Int32
		for range 5 { // two running, three queued
			s.run(func() { <-gate; ran.Add(1) })
		}
		stopped := make(chan struct{})
		go func() { s.stop(); close(stopped) }()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned while its workers still ran")
		default:
		}
		close(gate)
		<-stopped
		if n := ran.Load(); n != 5 {
			t.Fatalf("%d tasks ran, want 5", n)
		}
	})
}

// cancellingSource cancels the batch's context when asked for the
// chunks of its after-th file.
type cancellingSource struct {
	*memSource
	after  int
	cancel context.CancelFunc
	asked  int
}

func (s *cancellingSource) Chunks(ctx context.Context, e index.Entry) (ChunkReader, error) {
	if s.asked++; s.asked == s.after {
		s.cancel()
	}
	return s.memSource.Chunks(ctx, e)
}

// TestApplyJoinsWriters: when Apply returns, none of its small-file
// writers runs any more, whether the batch ended or was cancelled.
func TestApplyJoinsWriters(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one CPU: Apply writes small files in line")
	}
	for _, after := range []int{0, 50} {
		t.Run(fmt.Sprintf("cancel at %d", after), func(t *testing.T) {
			f, _ := openTest(t, Options{}, false)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			src := &cancellingSource{memSource: newSource(), after: after, cancel: cancel}
			var entries []index.Entry
			for i := range 200 {
				entries = append(entries, fileEntry(t, src.memSource, fmt.Sprintf("d%d/f%d", i%5, i), content(byte(i), 4<<10), 0o644))
			}
			res, err := f.Apply(ctx, entries, src, Known{})
			if n := writerGoroutines(); n > 0 {
				t.Fatalf("%d small-file writers still running after Apply returned", n)
			}
			if after == 0 && err != nil {
				t.Fatal(err)
			}
			if after > 0 && (err == nil || res[len(res)-1].Err == nil) {
				t.Fatalf("cancelled batch: %v, last entry %v", err, res[len(res)-1].Err)
			}
		})
	}
}

// writerGoroutines counts the goroutines running a writer goroutine's loop.
func writerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "apply.(*writers).work")
		}
		buf = make([]byte, 2*len(buf))
	}
}
