package primary

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/scanner"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// A scan that fails keeps its paths pending until a scan covering them
// succeeds; paths that failed alone are kept too.
func TestScanRetryKeepsFailedPaths(t *testing.T) {
	errIndex := fmt.Errorf("update folder: %w", unix.ENOSPC)
	errRead := fmt.Errorf("read %q: %w", "a/x", unix.EIO)
	type step struct {
		targets   []string
		res       scanner.Result
		err       error
		pending   []string
		recovered bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"index failure keeps every target", []step{
			{targets: []string{"a/x", "b"}, err: errIndex, pending: []string{"a/x", "b"}},
			{targets: []string{"c"}, pending: []string{"a/x", "b"}},
			{targets: []string{"a/x", "b"}, recovered: true},
		}},
		{"a directory's scan covers what is below it", []step{
			{targets: []string{"a/x", "a/y/z", "ab"}, err: errIndex, pending: []string{"a/x", "a/y/z", "ab"}},
			{targets: []string{"a"}, pending: []string{"ab"}},
			{targets: []string{""}, recovered: true},
		}},
		{"failed paths of a scan that succeeded", []step{
			{targets: []string{"a"}, res: scanner.Result{Failed: []string{"a/x"}, FailErr: errRead}, pending: []string{"a/x"}},
			{targets: []string{"a/x"}, res: scanner.Result{Failed: []string{"a/x"}, FailErr: errRead}, pending: []string{"a/x"}},
			{targets: []string{"a/x"}, recovered: true},
		}},
		{"no targets is the whole folder", []step{
			{err: errIndex, pending: []string{""}},
			{targets: []string{"a"}, pending: []string{""}},
			{recovered: true},
		}},
		{"nothing failed, nothing to recover from", []step{
			{targets: []string{"a"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newScanRetry(10 * time.Second)
			for i, s := range tc.steps {
				rec := r.record(s.targets, s.res, s.err, t0)
				if got := r.pending(); !slices.Equal(got, s.pending) || rec != s.recovered {
					t.Fatalf("step %d: pending %q recovered %v, want %q %v", i, got, rec, s.pending, s.recovered)
				}
				if (r.status() == nil) != (len(s.pending) == 0) || (r.failure("data") == nil) != (len(s.pending) == 0) {
					t.Fatalf("step %d: status %+v failure %v with pending %q", i, r.status(), r.failure("data"), s.pending)
				}
			}
		})
	}
}

// Retries back off from retryFirst, doubling up to the maximum
// (scan_interval), and start again from retryFirst after a recovery.
func TestScanRetryBackoff(t *testing.T) {
	r := newScanRetry(3 * time.Second)
	if _, ok := r.due(t0); ok {
		t.Fatal("due with nothing pending")
	}
	r.record([]string{"a"}, scanner.Result{}, unix.EIO, t0)
	now := t0
	var delays []time.Duration
	for range 5 {
		d, ok := r.due(now)
		if !ok {
			t.Fatal("nothing due")
		}
		delays = append(delays, d)
		now = now.Add(d)
		if got := r.take(now); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("take %q", got)
		}
		r.record(r.pending(), scanner.Result{}, unix.EIO, now)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	if !slices.Equal(delays, want) {
		t.Errorf("delays %v, want %v", delays, want)
	}
	if st := r.status(); st.Retries != 5 || !st.Since.Equal(t0) || st.Pending != 1 {
		t.Errorf("status %+v", st)
	}
	r.record([]string{"a"}, scanner.Result{}, nil, now)
	r.record([]string{"b"}, scanner.Result{}, unix.EIO, now)
	if d, _ := r.due(now); d != 500*time.Millisecond {
		t.Errorf("after a recovery the first retry waits %v", d)
	}
	// A scan_interval shorter than retryFirst bounds the first retry too.
	short := newScanRetry(200 * time.Millisecond)
	short.record(nil, scanner.Result{}, unix.EIO, t0)
	if d, _ := short.due(t0); d != 200*time.Millisecond {
		t.Errorf("with scan_interval 200ms the first retry waits %v", d)
	}
}

// Too many pending paths become the whole folder.
func TestScanRetryCollapses(t *testing.T) {
	r := newScanRetry(time.Second)
	paths := make([]string, maxRetryPaths+1)
	for i := range paths {
		paths[i] = fmt.Sprintf("f%d", i)
	}
	r.record(paths, scanner.Result{}, unix.ENOSPC, t0)
	if got := r.pending(); !slices.Equal(got, []string{""}) {
		t.Fatalf("%d pending paths, want the whole folder", len(got))
	}
	r.record([]string{"x"}, scanner.Result{}, unix.ENOSPC, t0)
	if got := r.pending(); !slices.Equal(got, []string{""}) {
		t.Fatalf("pending %q after another failure", got)
	}
}

// The error a barrier fails with names the folder, what fails and why.
func TestScanFailedError(t *testing.T) {
	r := newScanRetry(time.Second)
	r.record([]string{"a/x"}, scanner.Result{}, fmt.Errorf("write index: %w", unix.ENOSPC), t0)
	err := r.failure("data")
	var sf *ScanFailedError
	if !errors.As(err, &sf) || !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("failure %v (%T), want a *ScanFailedError wrapping ENOSPC", err, err)
	}
	for _, want := range []string{"folder data", `"a/x"`, "no space left on device"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}
