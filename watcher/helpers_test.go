package watcher

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// harness runs a Watcher on real inotify and collects its batches.
type harness struct {
	t            *testing.T
	root         string
	w            *Watcher
	cancel       context.CancelFunc
	runErr       chan error
	consumerDone chan struct{}

	mu      sync.Mutex
	batches []Batch
	src     source // the real fsnotify source, once Run created it
}

// startWatcher starts a watcher on root (a new temp dir when ""), after
// setup has run on it; tweak may change the watcher before Run. Cleanup
// stops it and checks that no goroutine leaked.
func startWatcher(t *testing.T, root string, opts Options, tweak func(*Watcher)) *harness {
	t.Helper()
	if root == "" {
		root = t.TempDir()
	}
	before := runtime.NumGoroutine()
	opts.Root = root
	if opts.MarkerDir == "" {
		opts.MarkerDir = filepath.Join(t.TempDir(), "flush")
	}
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, root: w.Root(), w: w, runErr: make(chan error, 1), consumerDone: make(chan struct{})}
	newSource := w.newSource
	w.newSource = func(n int) (source, error) {
		s, err := newSource(n)
		h.mu.Lock()
		h.src = s
		h.mu.Unlock()
		return s, err
	}
	if tweak != nil {
		tweak(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	out := make(chan Batch)
	go func() { h.runErr <- w.Run(ctx, out) }()
	go func() {
		defer close(h.consumerDone)
		for {
			select {
			case b := <-out:
				h.mu.Lock()
				h.batches = append(h.batches, b)
				h.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
		waitGoroutines(t, before)
	})
	select {
	case <-w.Ready():
	case err := <-h.runErr:
		t.Fatalf("Run returned before Ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("watcher not ready after 30s")
	}
	return h
}

// stop ends Run and the consumer; it returns Run's error.
func (h *harness) stop() error {
	h.cancel()
	<-h.consumerDone
	select {
	case err := <-h.runErr:
		h.runErr <- err
		return err
	case <-time.After(10 * time.Second):
		return errors.New("Run did not return within 10s")
	}
}

// waitGoroutines fails unless the goroutine count drops back to before.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) snapshot() []Batch {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.batches)
}

// flush calls Flush and waits for the collector to record what Flush
// delivered (it appends just after receiving).
func (h *harness) flush() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.w.Flush(ctx); err != nil {
		h.t.Fatalf("Flush: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
}

// checkWatches fails unless fsnotify's watches are exactly the
// directories the registry holds as watched: no stale watch left on a
// directory moved away, none missing.
func (h *harness) checkWatches() {
	h.t.Helper()
	h.mu.Lock()
	src := h.src
	h.mu.Unlock()
	var fs *fsnotifySource
	switch s := src.(type) {
	case fsnotifySource:
		fs = &s
	case *limitSource:
		if f, ok := s.source.(fsnotifySource); ok {
			fs = &f
		}
	}
	if fs == nil {
		h.t.Fatalf("source %T is not fsnotify", src)
	}
	// Flush's marker directory is watched too, outside the registry.
	got := slices.DeleteFunc(fs.w.WatchList(), func(p string) bool { return p == h.w.opts.MarkerDir })
	slices.Sort(got)
	var want []string
	h.w.reg.mu.Lock()
	for p, st := range h.w.reg.dirs {
		if st.watched {
			want = append(want, h.w.abs(p))
		}
	}
	h.w.reg.mu.Unlock()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		h.t.Fatalf("fsnotify watches %q, registry %q", got, want)
	}
}

// reset forgets the batches collected so far.
func (h *harness) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batches = nil
}

// paths returns every path delivered so far.
func (h *harness) paths() map[string]bool {
	m := make(map[string]bool)
	for _, b := range h.snapshot() {
		for _, p := range b.Paths {
			m[p] = true
		}
	}
	return m
}

// covers reports whether p or one of its ancestors ("" included) is in set.
func covers(set map[string]bool, p string) bool {
	if set[p] || set[""] {
		return true
	}
	for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p[:i], '/') {
		if set[p[:i]] {
			return true
		}
	}
	return false
}

// waitFor polls until cond holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectPaths waits until every path in want has been delivered exactly.
func (h *harness) expectPaths(want ...string) {
	h.t.Helper()
	ok := waitFor(3*time.Second, func() bool {
		got := h.paths()
		for _, p := range want {
			if !got[p] {
				return false
			}
		}
		return true
	})
	if !ok {
		h.t.Fatalf("paths %q not all delivered; got %q", want, keys(h.paths()))
	}
}

// expectQuiet waits d and fails if any delivered path matches bad.
func (h *harness) expectQuiet(d time.Duration, bad func(string) bool) {
	h.t.Helper()
	time.Sleep(d)
	for p := range h.paths() {
		if bad(p) {
			h.t.Fatalf("unexpected path %q delivered (all: %q)", p, keys(h.paths()))
		}
	}
}

// expectWatched waits until Stats.Watched equals n.
func (h *harness) expectWatched(n int) {
	h.t.Helper()
	if !waitFor(3*time.Second, func() bool { return h.w.Stats().Watched == n }) {
		h.t.Fatalf("Watched = %d, want %d", h.w.Stats().Watched, n)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// write creates or replaces file rel under root.
func write(t *testing.T, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdirAll(t *testing.T, root, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, rel), 0o755); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
