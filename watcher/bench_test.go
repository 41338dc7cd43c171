package watcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkIdleCPU watches a tree of 100,000 files in 10,000 directories
// and measures the process's CPU time over 10 s of no changes: it must be
// about zero (no polling, no timers while idle). Run it once:
//
//	go test -run '^$' -bench IdleCPU -benchtime 1x ./watcher/
func BenchmarkIdleCPU(b *testing.B) {
	root := b.TempDir()
	const dirs, perDir = 10000, 10
	for i := range dirs {
		d := filepath.Join(root, fmt.Sprintf("%03d", i/100), fmt.Sprintf("%03d", i%100))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range perDir {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", j)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	for b.Loop() {
		w, err := New(Options{Root: root})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan Batch)
		errc := make(chan error, 1)
		start := time.Now()
		go func() { errc <- w.Run(ctx, out) }()
		<-w.Ready()
		walk := time.Since(start)
		before := cpuTime(b)
		time.Sleep(10 * time.Second)
		idle := cpuTime(b) - before
		st := w.Stats()
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(idle.Microseconds())/1000, "idle-cpu-ms/10s")
		b.ReportMetric(float64(walk.Milliseconds()), "walk-ms")
		b.ReportMetric(float64(st.Watched), "dirs-watched")
	}
}

// cpuTime returns the process's user plus system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvents measures the run loop's cost per event (debounce and
// batching, no inotify).
func BenchmarkEvents(b *testing.B) {
	d := newDebouncer(DefaultQuiet, DefaultMaxLatency)
	o := newOutbox(DefaultMaxBatch)
	paths := make([]string, 10000)
	for i := range paths {
		paths[i] = fmt.Sprintf("dir%02d/file%05d", i%50, i)
	}
	now := time.Unix(0, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.touch(paths[i%len(paths)], now)
		i++
		if i%len(paths) == 0 {
			now = now.Add(time.Second)
			for _, p := range d.popDue(now) {
				o.add(p)
			}
			for {
				bt, ok := o.head()
				if !ok {
					break
				}
				o.delivered(len(bt.Paths))
			}
		}
	}
}
