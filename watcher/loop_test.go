package watcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// fakeSource stands in for inotify in the run loop's tests, which run
// under synctest (a bubble cannot wait on a real inotify descriptor).
type fakeSource struct {
	events chan fsnotify.Event
	errors chan error

	mu      sync.Mutex
	watched map[string]bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{events: make(chan fsnotify.Event), errors: make(chan error), watched: map[string]bool{}}
}

func (s *fakeSource) Events() <-chan fsnotify.Event { return s.events }
func (s *fakeSource) Errors() <-chan error          { return s.errors }
func (s *fakeSource) Close() error                  { return nil }
func (s *fakeSource) Add(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watched[path] = true
	return nil
}
func (s *fakeSource) Remove(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watched, path)
	return nil
}

// fakeRun is a Watcher running on a fakeSource inside a synctest bubble.
type fakeRun struct {
	t      *testing.T
	w      *Watcher
	src    *fakeSource
	out    chan Batch
	cancel context.CancelFunc
	errc   chan error
}

func startFake(t *testing.T, opts Options, tweak func(*Watcher, *fakeSource)) *fakeRun {
	t.Helper()
	opts.Root = t.TempDir()
	if opts.MarkerDir == "" {
		opts.MarkerDir = filepath.Join(t.TempDir(), "flush")
	}
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource()
	w.newSource = func(int) (source, error) { return src, nil }
	if tweak != nil {
		tweak(w, src)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeRun{t: t, w: w, src: src, out: make(chan Batch), cancel: cancel, errc: make(chan error, 1)}
	go func() { f.errc <- w.Run(ctx, f.out) }()
	<-w.Ready()
	return f
}

// stop ends Run; the bubble then has no goroutine left.
func (f *fakeRun) stop() {
	f.t.Helper()
	f.cancel()
	if err := <-f.errc; err != nil {
		f.t.Errorf("Run: %v", err)
	}
}

func (f *fakeRun) event(op fsnotify.Op, rel string) {
	f.src.events <- fsnotify.Event{Name: f.w.abs(rel), Op: op}
}

// none fails if a batch arrives within d.
func (f *fakeRun) none(d time.Duration) {
	f.t.Helper()
	select {
	case b := <-f.out:
		f.t.Fatalf("unexpected batch %+v", b)
	case <-time.After(d):
	}
}

func TestLoopQuietWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, nil)
		defer f.stop()
		start := time.Now()
		f.event(fsnotify.Write, "f")
		time.Sleep(50 * time.Millisecond)
		f.event(fsnotify.Write, "f")
		last := time.Now()
		b := <-f.out
		took := time.Since(last)
		if !slices.Equal(b.Paths, []string{"f"}) || b.Overflow {
			t.Fatalf("batch %+v", b)
		}
		if took < DefaultQuiet || took > DefaultQuiet+DefaultQuiet/2 {
			t.Fatalf("delivered %v after the last event (%v after the first), want %v..%v",
				took, time.Since(start), DefaultQuiet, DefaultQuiet*3/2)
		}
		f.none(time.Second)
	})
}

func TestLoopMaxLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, nil)
		defer f.stop()
		start := time.Now()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // written every 10 ms: never quiet
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
					f.event(fsnotify.Write, "f")
				}
			}
		}()
		var at []time.Duration
		for len(at) < 3 {
			b := <-f.out
			if !slices.Equal(b.Paths, []string{"f"}) {
				t.Fatalf("batch %+v", b)
			}
			at = append(at, time.Since(start))
		}
		close(stop)
		<-done
		for i, d := range at {
			// The first event comes at 10 ms; each emission restarts the
			// latency bound; the tick granularity may add up to Quiet/2.
			lo := time.Duration(i+1) * DefaultMaxLatency
			hi := time.Duration(i+1) * (DefaultMaxLatency + 10*time.Millisecond + DefaultQuiet/2)
			if d < lo || d > hi {
				t.Fatalf("emission %d at %v, want %v..%v (all: %v)", i, d, lo, hi, at)
			}
		}
	})
}

func TestLoopBatches(t *testing.T) {
	tests := []struct {
		maxBatch int
		want     []int
	}{
		{0, []int{10000}},
		{3000, []int{3000, 3000, 3000, 1000}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.maxBatch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := startFake(t, Options{MaxBatch: tc.maxBatch}, nil)
				defer f.stop()
				start := time.Now()
				for i := range 10000 {
					f.event(fsnotify.Create, fmt.Sprintf("d/f%05d", i))
				}
				var sizes []int
				seen := map[string]bool{}
				for len(seen) < 10000 {
					b := <-f.out
					sizes = append(sizes, len(b.Paths))
					for _, p := range b.Paths {
						if seen[p] {
							t.Fatalf("%q delivered twice", p)
						}
						seen[p] = true
					}
				}
				if !slices.Equal(sizes, tc.want) {
					t.Fatalf("batch sizes %v, want %v", sizes, tc.want)
				}
				if took := time.Since(start); took != DefaultQuiet {
					t.Fatalf("delivered after %v, want %v", took, DefaultQuiet)
				}
				f.none(time.Second)
			})
		})
	}
}

func TestLoopSlowConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, nil)
		defer f.stop()
		for _, p := range []string{"a", "b", "c", "b"} {
			f.event(fsnotify.Write, p)
		}
		time.Sleep(time.Second)
		// Waiting already: the new event is covered by the coming batch.
		f.event(fsnotify.Write, "a")
		f.event(fsnotify.Create, "d") // dir covering d/x: d/x is not listed
		f.event(fsnotify.Write, "d/x")
		time.Sleep(time.Second)
		b := <-f.out
		if want := []string{"a", "b", "c", "d"}; !slices.Equal(b.Paths, want) {
			t.Fatalf("batch %q, want %q", b.Paths, want)
		}
		f.none(time.Second)
	})
}

func TestLoopOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, nil)
		defer f.stop()
		f.event(fsnotify.Write, "f")
		start := time.Now()
		f.src.errors <- fsnotify.ErrEventOverflow
		b := <-f.out
		if !b.Overflow || !slices.Equal(b.Paths, []string{""}) {
			t.Fatalf("batch %+v, want whole folder after overflow", b)
		}
		if took := time.Since(start); took != 0 {
			t.Fatalf("overflow batch after %v, want at once", took)
		}
		if s := f.w.Stats(); s.Overflows != 1 || s.Events != 1 {
			t.Fatalf("Stats %+v", s)
		}
		f.none(time.Second) // f was covered
		// A read error also loses events: whole folder, not an overflow.
		f.src.errors <- fmt.Errorf("short read")
		if b := <-f.out; b.Overflow || !slices.Equal(b.Paths, []string{""}) {
			t.Fatalf("batch %+v after read error", b)
		}
	})
}

func TestLoopPendingCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, func(w *Watcher, _ *fakeSource) { w.maxPending = 100 })
		defer f.stop()
		for i := range 150 {
			f.event(fsnotify.Write, fmt.Sprintf("f%d", i))
		}
		var got []Batch
		for {
			select {
			case b := <-f.out:
				got = append(got, b)
				continue
			case <-time.After(time.Second):
			}
			break
		}
		if len(got) == 0 || !got[0].Overflow || !slices.Equal(got[0].Paths, []string{""}) {
			t.Fatalf("batches %+v, want a whole-folder rescan first", got)
		}
		if f.w.Stats().Overflows != 1 {
			t.Fatalf("Stats %+v", f.w.Stats())
		}
	})
}

func TestLoopRootChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, nil)
		defer f.stop()
		// A chmod of the root asks for the root's own metadata only
		// (index.RootPath), not for a rescan of everything.
		f.event(fsnotify.Chmod, "")
		if b := <-f.out; !slices.Equal(b.Paths, []string{index.RootPath}) {
			t.Fatalf("batch %+v, want the root's metadata", b)
		}
		f.none(time.Second)
		// So does one of ncsync's own names made at the top (a promoted
		// secondary's private directory): it moves the root's mtime.
		f.event(fsnotify.Create, ".ncsync-tmp")
		if b := <-f.out; !slices.Equal(b.Paths, []string{index.RootPath}) {
			t.Fatalf("batch %+v after .ncsync-tmp was made, want the root's metadata", b)
		}
		f.event(fsnotify.Chmod, "d")
		if b := <-f.out; !slices.Equal(b.Paths, []string{"d"}) {
			t.Fatalf("batch %+v", b)
		}
	})
}

// markerEvents makes Flush's marker produce its Create event on the fake.
func markerEvents(w *Watcher, src *fakeSource) {
	w.makeMarker = func(path string) error {
		src.events <- fsnotify.Event{Name: path, Op: fsnotify.Create}
		return nil
	}
}

func TestLoopFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{Quiet: time.Minute, MaxLatency: time.Hour}, markerEvents)
		defer f.stop()
		f.event(fsnotify.Write, "f")
		f.event(fsnotify.Write, "g")
		start := time.Now()
		flushed := make(chan error)
		go func() { flushed <- f.w.Flush(context.Background()) }()
		var got []string
		for {
			select {
			case b := <-f.out:
				got = append(got, b.Paths...)
				continue
			case err := <-flushed:
				if err != nil {
					t.Fatal(err)
				}
			}
			break
		}
		if !slices.Equal(got, []string{"f", "g"}) || time.Since(start) != 0 {
			t.Fatalf("before Flush returned: %q after %v", got, time.Since(start))
		}
		// Nothing pending: returns at once, sends nothing.
		if err := f.w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.none(time.Second)
	})
}

func TestLoopFlushAfterOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		f := startFake(t, Options{Quiet: time.Minute, MaxLatency: time.Hour}, func(w *Watcher, src *fakeSource) {
			w.makeMarker = func(path string) error {
				calls++
				if calls == 1 { // the marker's event is lost
					src.errors <- fsnotify.ErrEventOverflow
					return nil
				}
				src.events <- fsnotify.Event{Name: path, Op: fsnotify.Create}
				return nil
			}
		})
		defer f.stop()
		f.event(fsnotify.Write, "f")
		flushed := make(chan error)
		go func() { flushed <- f.w.Flush(context.Background()) }()
		b := <-f.out
		if !b.Overflow || !slices.Equal(b.Paths, []string{""}) {
			t.Fatalf("batch %+v", b)
		}
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
		if calls != 2 {
			t.Fatalf("%d markers, want 2", calls)
		}
	})
}

func TestLoopFlushCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, func(w *Watcher, _ *fakeSource) {
			w.makeMarker = func(string) error { return unix.EROFS }
		})
		defer f.stop()
		if err := f.w.Flush(context.Background()); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("Flush = %v, want the marker's error", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		f.w.makeMarker = func(string) error { return nil } // no event ever comes
		if err := f.w.Flush(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Flush = %v, want deadline exceeded", err)
		}
	})
}

func TestLoopInstanceLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fails := 2
		f := startFake(t, Options{Retry: time.Second}, func(w *Watcher, src *fakeSource) {
			w.newSource = func(int) (source, error) {
				if fails > 0 {
					fails--
					return nil, unix.EMFILE
				}
				return src, nil
			}
		})
		defer f.stop()
		s := f.w.Stats()
		if !strings.Contains(s.Degraded, "fs.inotify.max_user_instances") || s.Unwatched == 0 {
			t.Fatalf("Stats %+v", s)
		}
		if got := f.w.Unwatched(); !slices.Equal(got, []string{""}) {
			t.Fatalf("Unwatched = %q", got)
		}
		start := time.Now()
		if err := f.w.Flush(context.Background()); err != nil || time.Since(start) != 0 {
			t.Fatalf("Flush = %v after %v", err, time.Since(start))
		}
		b := <-f.out // once inotify works: rescan everything
		if !slices.Equal(b.Paths, []string{""}) || time.Since(start) != 2*time.Second {
			t.Fatalf("batch %+v after %v", b, time.Since(start))
		}
		if s := f.w.Stats(); s.Degraded != "" || s.Watched != 1 || len(f.w.Unwatched()) != 0 {
			t.Fatalf("Stats %+v", s)
		}
	})
}

func TestLoopRootGoneDuringOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFake(t, Options{}, nil)
		if err := os.RemoveAll(f.w.Root()); err != nil {
			t.Fatal(err)
		}
		f.src.errors <- fsnotify.ErrEventOverflow // the root's own event was lost
		if err := <-f.errc; !errors.Is(err, ErrRootGone) {
			t.Fatalf("Run = %v, want ErrRootGone", err)
		}
		f.cancel()
	})
}
