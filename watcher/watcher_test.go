package watcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
)

func TestEvents(t *testing.T) {
	type env struct {
		t         *testing.T
		root, out string // out: a directory outside the folder
	}
	tests := []struct {
		name    string
		setup   func(e env)
		act     func(e env)
		want    []string
		watched int // directories watched afterwards (root included)
		// then, if set, acts again and expects more paths: proves the
		// watches follow the tree
		then     func(e env)
		thenWant []string
	}{
		{
			name:    "create",
			act:     func(e env) { write(e.t, e.root, "f", "x") },
			want:    []string{"f"},
			watched: 1,
		},
		{
			name:  "modify",
			setup: func(e env) { write(e.t, e.root, "d/f", "x") },
			act: func(e env) {
				f, err := os.OpenFile(filepath.Join(e.root, "d/f"), os.O_WRONLY, 0)
				must(e.t, err)
				_, err = f.WriteAt([]byte("y"), 0)
				must(e.t, err)
				// Left open: dirty without close-write.
				e.t.Cleanup(func() { f.Close() })
			},
			want:    []string{"d/f"},
			watched: 2,
		},
		{
			name:  "append",
			setup: func(e env) { write(e.t, e.root, "f", "x") },
			act: func(e env) {
				f, err := os.OpenFile(filepath.Join(e.root, "f"), os.O_WRONLY|os.O_APPEND, 0)
				must(e.t, err)
				_, err = f.Write([]byte("more"))
				must(e.t, err)
				must(e.t, f.Close())
			},
			want:    []string{"f"},
			watched: 1,
		},
		{
			name:    "truncate",
			setup:   func(e env) { write(e.t, e.root, "f", "xyz") },
			act:     func(e env) { must(e.t, os.Truncate(filepath.Join(e.root, "f"), 1)) },
			want:    []string{"f"},
			watched: 1,
		},
		{
			name:    "chmod",
			setup:   func(e env) { write(e.t, e.root, "a/f", "x") },
			act:     func(e env) { must(e.t, os.Chmod(filepath.Join(e.root, "a/f"), 0o600)) },
			want:    []string{"a/f"},
			watched: 2,
		},
		{
			name: "rename file within",
			setup: func(e env) {
				write(e.t, e.root, "a", "x")
				mkdirAll(e.t, e.root, "sub")
			},
			act:     func(e env) { must(e.t, os.Rename(filepath.Join(e.root, "a"), filepath.Join(e.root, "sub/b"))) },
			want:    []string{"a", "sub/b"},
			watched: 2,
		},
		{
			name:  "rename dir within",
			setup: func(e env) { write(e.t, e.root, "d/x/y/f", "x") },
			act:   func(e env) { must(e.t, os.Rename(filepath.Join(e.root, "d"), filepath.Join(e.root, "e"))) },
			want:  []string{"d", "e"},
			// root, e, e/x, e/x/y
			watched:  4,
			then:     func(e env) { write(e.t, e.root, "e/x/y/g", "x") },
			thenWant: []string{"e/x/y/g"},
		},
		{
			name: "move file in",
			act: func(e env) {
				write(e.t, e.out, "f", "x")
				must(e.t, os.Rename(filepath.Join(e.out, "f"), filepath.Join(e.root, "f")))
			},
			want:    []string{"f"},
			watched: 1,
		},
		{
			name: "move dir in",
			act: func(e env) {
				write(e.t, e.out, "d/x/f", "x")
				must(e.t, os.Rename(filepath.Join(e.out, "d"), filepath.Join(e.root, "d")))
			},
			want:     []string{"d"},
			watched:  3,
			then:     func(e env) { write(e.t, e.root, "d/x/g", "x") },
			thenWant: []string{"d/x/g"},
		},
		{
			name:    "move file out",
			setup:   func(e env) { write(e.t, e.root, "f", "x") },
			act:     func(e env) { must(e.t, os.Rename(filepath.Join(e.root, "f"), filepath.Join(e.out, "f"))) },
			want:    []string{"f"},
			watched: 1,
		},
		{
			name:    "move dir out",
			setup:   func(e env) { write(e.t, e.root, "d/x/f", "x") },
			act:     func(e env) { must(e.t, os.Rename(filepath.Join(e.root, "d"), filepath.Join(e.out, "d"))) },
			want:    []string{"d"},
			watched: 1,
		},
		{
			name:    "delete file",
			setup:   func(e env) { write(e.t, e.root, "a/f", "x") },
			act:     func(e env) { must(e.t, os.Remove(filepath.Join(e.root, "a/f"))) },
			want:    []string{"a/f"},
			watched: 2,
		},
		{
			name:    "delete tree",
			setup:   func(e env) { write(e.t, e.root, "d/x/y/f", "x") },
			act:     func(e env) { must(e.t, os.RemoveAll(filepath.Join(e.root, "d"))) },
			want:    []string{"d"},
			watched: 1,
		},
		{
			name:  "replace dir by file",
			setup: func(e env) { write(e.t, e.root, "d/x/f", "x") },
			act: func(e env) {
				must(e.t, os.RemoveAll(filepath.Join(e.root, "d")))
				write(e.t, e.root, "d", "now a file")
			},
			want:    []string{"d"},
			watched: 1,
		},
		{
			name:  "replace file by dir",
			setup: func(e env) { write(e.t, e.root, "d", "x") },
			act: func(e env) {
				must(e.t, os.Remove(filepath.Join(e.root, "d")))
				write(e.t, e.root, "d/f", "x")
			},
			want:     []string{"d"},
			watched:  2,
			then:     func(e env) { write(e.t, e.root, "d/g", "x") },
			thenWant: []string{"d/g"},
		},
		{
			name:     "mkdir -p and file",
			act:      func(e env) { write(e.t, e.root, "a/b/c/f", "x") },
			want:     []string{"a"},
			watched:  4,
			then:     func(e env) { write(e.t, e.root, "a/b/c/g", "x") },
			thenWant: []string{"a/b/c/g"},
		},
		{
			name:    "symlink",
			act:     func(e env) { must(e.t, os.Symlink(e.out, filepath.Join(e.root, "l"))) },
			want:    []string{"l"},
			watched: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := env{t: t, root: t.TempDir(), out: t.TempDir()}
			if tc.setup != nil {
				tc.setup(e)
			}
			h := startWatcher(t, e.root, Options{}, nil)
			e.root = h.root
			tc.act(e)
			h.expectPaths(tc.want...)
			h.expectWatched(tc.watched)
			if tc.then != nil {
				h.reset()
				tc.then(e)
				h.expectPaths(tc.thenWant...)
			}
			h.checkWatches()
			if got := h.w.Stats(); got.Unwatched != 0 || got.Degraded != "" || got.Overflows != 0 {
				t.Errorf("Stats = %+v", got)
			}
		})
	}
}

func TestNewDirectoryRace(t *testing.T) {
	h := startWatcher(t, "", Options{}, nil)
	const rounds = 1000
	levels := []string{"", "a", "a/b", "a/b/c", "a/b/c/d"}
	var files []string
	for i := range rounds {
		top := fmt.Sprintf("r%04d", i)
		mkdirAll(t, h.root, top+"/a/b/c/d")
		for _, l := range levels {
			f := filepath.Join(top, l, "f")
			must(t, os.WriteFile(filepath.Join(h.root, f), nil, 0o644))
			files = append(files, f)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, h.w.Flush(ctx))
	// The collector appends the last batch just after receiving it.
	var missing string
	waitFor(time.Second, func() bool {
		got := h.paths()
		for _, f := range files {
			if !covers(got, f) {
				missing = f
				return false
			}
		}
		missing = ""
		return true
	})
	if missing != "" {
		t.Fatalf("%q not delivered", missing)
	}
	h.expectWatched(1 + rounds*len(levels))
	h.checkWatches()
	if s := h.w.Stats(); s.Overflows != 0 {
		t.Logf("note: %d overflows", s.Overflows)
	}
}

func TestMovedOutDropsWatches(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	write(t, root, "m/x/y/f", "x")
	write(t, root, "keep/f", "x")
	h := startWatcher(t, root, Options{}, nil)
	h.expectWatched(5)
	must(t, os.Rename(filepath.Join(h.root, "m"), filepath.Join(out, "m")))
	h.expectPaths("m")
	h.expectWatched(2)
	h.reset()
	write(t, out, "m/x/y/g", "x")
	write(t, out, "m/x/new/g", "x")
	must(t, os.Remove(filepath.Join(out, "m/x/y/f")))
	write(t, root, "keep/g", "x") // something that must show up
	h.expectPaths("keep/g")
	h.expectQuiet(200*time.Millisecond, func(p string) bool { return p != "keep/g" })
	h.expectWatched(2)
	h.checkWatches()
}

func TestIgnore(t *testing.T) {
	m, err := ignore.New([]string{"/skip/", "*.log", "cache/"})
	must(t, err)
	root := t.TempDir()
	write(t, root, "skip/a/f", "x")
	write(t, root, "sub/cache/f", "x")
	h := startWatcher(t, root, Options{Ignore: m}, nil)
	h.expectWatched(2) // root, sub
	write(t, h.root, "skip/a/g", "x")
	write(t, h.root, "skip/new/g", "x")
	write(t, h.root, "sub/cache/g", "x")
	write(t, h.root, "app.log", "x")
	write(t, h.root, "sub/x.log", "x")
	mkdirAll(t, h.root, "sub/cache2/cache")
	write(t, h.root, ".ncsync-tmp-1", "x") // not reported; it moves the root's mtime
	write(t, h.root, "skip2", "not a directory, so not ignored")
	h.expectPaths("skip2", "sub/cache2", index.RootPath)
	must(t, os.RemoveAll(filepath.Join(h.root, "sub/cache")))
	must(t, os.Remove(filepath.Join(h.root, "app.log")))
	write(t, h.root, "last", "x")
	h.expectPaths("last")
	h.expectQuiet(100*time.Millisecond, func(p string) bool {
		return p != "skip2" && p != "sub/cache2" && p != "last" && p != index.RootPath
	})
	h.expectWatched(3) // root, sub, sub/cache2 (not sub/cache2/cache)
	h.checkWatches()
}

func TestFlush(t *testing.T) {
	// Quiet windows far longer than the test: only Flush can deliver.
	h := startWatcher(t, "", Options{Quiet: time.Minute, MaxLatency: time.Hour}, nil)
	for i := range 20 {
		name := fmt.Sprintf("f%d", i)
		write(t, h.root, name, "x")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := h.w.Flush(ctx)
		cancel()
		must(t, err)
		// Flush returned after the batch was received; the collector
		// appends it right after receiving.
		if !waitFor(time.Second, func() bool { return h.paths()[name] }) {
			t.Fatalf("round %d: %q not delivered by Flush; got %q", i, name, keys(h.paths()))
		}
	}
	// Nothing pending: Flush returns at once.
	must(t, h.w.Flush(context.Background()))
	if ms, _ := filepath.Glob(filepath.Join(h.root, flushPrefix+"*")); len(ms) != 0 {
		t.Errorf("markers left: %q", ms)
	}
}

func TestFlushSynchronousConsumer(t *testing.T) {
	// The consumer is the test goroutine: Flush's return must come after
	// the batch holding the path was received, never before.
	root := t.TempDir()
	w, err := New(Options{Root: root, Quiet: time.Minute, MaxLatency: time.Hour, MarkerDir: filepath.Join(t.TempDir(), "flush")})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch)
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx, out) }()
	defer func() {
		cancel()
		must(t, <-runErr)
	}()
	<-w.Ready()
	write(t, root, "f", "x")
	flushed := make(chan error, 1)
	go func() { flushed <- w.Flush(context.Background()) }()
	got := map[string]bool{}
	for {
		select {
		case b := <-out:
			for _, p := range b.Paths {
				got[p] = true
			}
		case err := <-flushed:
			must(t, err)
			if !got["f"] {
				t.Fatalf("Flush returned before f was delivered (got %q)", keys(got))
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("Flush did not return")
		}
	}
}

func TestBurst(t *testing.T) {
	tests := []struct {
		name     string
		maxBatch int
	}{
		{"default", 0},
		{"max batch 1000", 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startWatcher(t, "", Options{MaxBatch: tc.maxBatch}, nil)
			mkdirAll(t, h.root, "d")
			h.expectPaths("d")
			h.reset()
			const n = 10000
			start := time.Now()
			for i := range n {
				must(t, os.WriteFile(filepath.Join(h.root, "d", fmt.Sprintf("f%05d", i)), nil, 0o644))
			}
			took := time.Since(start)
			ok := waitFor(10*time.Second, func() bool { return len(h.paths()) == n })
			bs := h.snapshot()
			if !ok {
				t.Fatalf("%d distinct paths delivered in %d batches, want %d", len(h.paths()), len(bs), n)
			}
			limit := tc.maxBatch
			if limit == 0 {
				limit = DefaultMaxBatch
			}
			for _, b := range bs {
				if len(b.Paths) > limit {
					t.Fatalf("batch of %d paths, limit %d", len(b.Paths), limit)
				}
			}
			// At most one batch per half quiet window while files keep
			// coming (plus the tail), unless MaxBatch splits them.
			most := int(took/(DefaultQuiet/2)) + 5 + n/limit
			if len(bs) > most || len(bs) < n/limit {
				t.Fatalf("%d batches for %d files created in %v, want %d..%d", len(bs), n, took, n/limit, most)
			}
			t.Logf("%d files created in %v came in %d batches", n, took, len(bs))
		})
	}
}

func TestRootGone(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	mkdirAll(t, root, "d")
	w, err := New(Options{Root: root})
	must(t, err)
	out := make(chan Batch, 100)
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(context.Background(), out) }()
	<-w.Ready()
	must(t, os.Rename(root, filepath.Join(parent, "moved")))
	select {
	case err := <-runErr:
		if !errors.Is(err, ErrRootGone) {
			t.Fatalf("Run = %v, want ErrRootGone", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not notice the root moving away")
	}
	if err := w.Flush(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Flush after Run = %v, want ErrNotRunning", err)
	}
	if err := w.Run(context.Background(), out); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	write(t, dir, "f", "x")
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"empty root", Options{}, "empty root"},
		{"missing", Options{Root: filepath.Join(dir, "nope")}, "no such file"},
		{"file", Options{Root: file}, "not a directory"},
		{"slash", Options{Root: "/"}, "whole file system"},
		{"negative", Options{Root: dir, Quiet: -1}, "negative"},
		{"latency below quiet", Options{Root: dir, Quiet: time.Second, MaxLatency: time.Millisecond}, "shorter than Quiet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestRenameChurn(t *testing.T) {
	// Directories renamed back and forth, replaced and moved out and in
	// again, faster than the watcher handles the events: afterwards the
	// watches match the tree exactly and report under the right names.
	root, out := t.TempDir(), t.TempDir()
	write(t, root, "a/x/y/f", "x")
	h := startWatcher(t, root, Options{}, nil)
	r := func(from, to string) { must(t, os.Rename(from, to)) }
	for i := range 300 {
		switch i % 3 {
		case 0:
			r(filepath.Join(h.root, "a"), filepath.Join(h.root, "b"))
			mkdirAll(t, h.root, "a/new")
			must(t, os.RemoveAll(filepath.Join(h.root, "a")))
			r(filepath.Join(h.root, "b"), filepath.Join(h.root, "a"))
		case 1:
			r(filepath.Join(h.root, "a/x"), filepath.Join(h.root, "x"))
			r(filepath.Join(h.root, "x"), filepath.Join(h.root, "a/x"))
		case 2:
			r(filepath.Join(h.root, "a"), filepath.Join(out, "a"))
			r(filepath.Join(out, "a"), filepath.Join(h.root, "a"))
		}
	}
	h.flush()
	h.expectWatched(4) // root, a, a/x, a/x/y
	h.checkWatches()
	h.reset()
	write(t, h.root, "a/x/y/g", "x")
	h.expectPaths("a/x/y/g")
	h.expectQuiet(100*time.Millisecond, func(p string) bool { return p != "a/x/y/g" })
	if s := h.w.Stats(); s.Unwatched != 0 {
		t.Fatalf("Stats %+v", s)
	}
}

func TestStaleMarkersRemoved(t *testing.T) {
	root, markers := t.TempDir(), filepath.Join(t.TempDir(), "flush")
	const stale = flushPrefix + "0123456789abcdef"
	write(t, root, stale, "") // where earlier versions made them
	write(t, markers, stale, "")
	write(t, root, ".ncsync-other", "kept: not a flush marker")
	h := startWatcher(t, root, Options{MarkerDir: markers}, nil)
	for _, p := range []string{filepath.Join(h.root, stale), filepath.Join(markers, stale)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("stale marker %s still there: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(h.root, ".ncsync-other")); err != nil {
		t.Fatal(err)
	}
}

// Flush never writes in the folder: its markers are made in MarkerDir,
// outside it. The root's mtime, which is replicated, stays as it was from
// the first flush on, and nothing is made or left in the tree, so a
// barrier neither changes the tree nor fails on a read-only folder.
func TestFlushLeavesTreeAlone(t *testing.T) {
	root, markers := t.TempDir(), filepath.Join(t.TempDir(), "flush")
	write(t, root, "f", "x")
	old := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	must(t, os.Chtimes(root, old, old))
	h := startWatcher(t, root, Options{MarkerDir: markers}, nil)
	for range 5 {
		h.flush()
	}
	var st unix.Stat_t
	must(t, unix.Lstat(h.root, &st))
	if got := time.Unix(st.Mtim.Unix()).UTC(); !got.Equal(old) {
		t.Errorf("root mtime moved from %v to %v across flushes", old, got)
	}
	if names, _ := filepath.Glob(filepath.Join(h.root, "*")); len(names) != 1 {
		t.Errorf("the tree holds %q after flushes, want only f", names)
	}
	if ms, _ := filepath.Glob(filepath.Join(markers, "*")); len(ms) != 0 {
		t.Errorf("markers left: %q", ms)
	}
	var md unix.Stat_t
	must(t, unix.Lstat(markers, &md))
	if md.Mode&0o777 != 0o700 {
		t.Errorf("marker directory mode %#o, want 0700", md.Mode&0o777)
	}
}

// A marker directory that is not the daemon's private directory (a
// symlink, or one others can write) is refused by Flush, which names it;
// one removed by hand is made again by the next Flush.
func TestFlushMarkerDir(t *testing.T) {
	markers := filepath.Join(t.TempDir(), "flush")
	h := startWatcher(t, "", Options{MarkerDir: markers}, nil)
	h.flush()
	must(t, os.Remove(markers))
	h.flush()
	must(t, os.Remove(markers))
	elsewhere := t.TempDir()
	must(t, os.Symlink(elsewhere, markers))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.w.Flush(ctx); err == nil || !strings.Contains(err.Error(), markers) {
		t.Errorf("Flush with a symlink as marker directory = %v, want an error naming it", err)
	}
	must(t, os.Remove(markers))
	must(t, os.Mkdir(markers, 0o777))
	must(t, os.Chmod(markers, 0o777))
	if err := h.w.Flush(ctx); err == nil || !strings.Contains(err.Error(), markers) {
		t.Errorf("Flush with a world-writable marker directory = %v, want an error naming it", err)
	}
	w, err := New(Options{Root: h.root})
	must(t, err)
	out := make(chan Batch)
	ctx2, stop := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx2, out) }()
	<-w.Ready()
	if err := w.Flush(ctx); !errors.Is(err, ErrNoMarkerDir) {
		t.Errorf("Flush without a marker directory = %v, want ErrNoMarkerDir", err)
	}
	stop()
	must(t, <-runErr)
}
