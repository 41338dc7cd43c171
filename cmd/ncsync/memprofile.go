package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// peakHeapEvery is how often the live heap is checked for a new peak.
const peakHeapEvery = time.Second

// peakHeapProfile keeps in path the heap profile taken when the live heap
// (as of the last collection) was at its highest: what the daemon held at
// its peak, which a profile taken at exit no longer shows. A new peak is
// one more than 1/16 above the last one written, so that a slowly rising
// heap does not rewrite the file every second.
type peakHeapProfile struct {
	path  string
	live  func() uint64           // live heap bytes after the last collection
	write func(w io.Writer) error // the heap profile
	peak  uint64
}

func newPeakHeapProfile(path string) *peakHeapProfile {
	return &peakHeapProfile{path: path, live: liveHeap, write: func(w io.Writer) error {
		return pprof.Lookup("heap").WriteTo(w, 0)
	}}
}

// liveHeap is the heap marked live by the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// check writes the profile if the live heap is at a new peak; it reports
// whether it did.
func (p *peakHeapProfile) check() (bool, error) {
	l := p.live()
	if p.peak != 0 && l <= p.peak+p.peak/16 {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.path), filepath.Base(p.path)+".*")
	if err != nil {
		return false, fmt.Errorf("--memprofile: %w", err)
	}
	err = p.write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("--memprofile: %w", err)
	}
	p.peak = l
	return true, nil
}

// run checks at every tick until ctx ends, and once more then.
func (p *peakHeapProfile) run(ctx context.Context, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			_, err := p.check()
			return err
		case <-tick:
			if _, err := p.check(); err != nil {
				return err
			}
		}
	}
}
