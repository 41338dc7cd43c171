package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The profile is rewritten only at a new peak of the live heap, more than
// 1/16 above the last one written, and what is on disk is the peak's.
func TestPeakHeapProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heap.pprof")
	var live uint64
	p := &peakHeapProfile{path: path, live: func() uint64 { return live },
		write: func(w io.Writer) error { _, err := fmt.Fprintf(w, "live %d", live); return err }}
	for _, step := range []struct {
		live  uint64
		wrote bool
		file  string
	}{
		{100, true, "live 100"},
		{106, false, "live 100"}, // within 1/16
		{50, false, "live 100"},
		{107, true, "live 107"},
		{90, false, "live 107"},
	} {
		live = step.live
		wrote, err := p.check()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if wrote != step.wrote || string(got) != step.file {
			t.Fatalf("live %d: wrote %v, file %q; want %v, %q", step.live, wrote, got, step.wrote, step.file)
		}
	}
	if m, _ := filepath.Glob(path + ".*"); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

// run checks at every tick and once more when its context ends; the real
// heap profile it writes is one pprof reads (gzip).
func TestPeakHeapProfileRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heap.pprof")
	p := newPeakHeapProfile(path)
	ctx, cancel := context.WithCancel(context.Background())
	tick := make(chan time.Time)
	done := make(chan error, 1)
	go func() { done <- p.run(ctx, tick) }()
	tick <- time.Time{}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("not a gzip-compressed profile: % x", b[:min(len(b), 8)])
	}
}
