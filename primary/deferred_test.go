package primary

import (
	"slices"
	"testing"
	"time"

	"github.com/ncsync/ncsync/scanner"
)

func TestDeferredSet(t *testing.T) {
	var d deferredSet
	defer d.stop()
	t0 := time.Unix(1700000000, 0)
	const maxLat = 500 * time.Millisecond
	busy := scanner.Deferred{Path: "config/config.php", Reason: scanner.ReasonBeingWritten}
	held := scanner.Deferred{Path: "config/s3.config.php", Reason: scanner.ReasonHeldEmpty, Until: t0.Add(10 * time.Second)}

	d.update([]string{"config"}, scanner.Result{Deferred: []scanner.Deferred{busy, held}}, true, t0, maxLat)
	if d.empty() || d.due() == nil {
		t.Fatal("nothing deferred after a scan deferred two files")
	}
	if got := d.take(t0.Add(deferPollMin), false); !slices.Equal(got, []string{busy.Path}) {
		t.Errorf("due after %v: %q, want the locked file only", deferPollMin, got)
	}
	if got := d.take(t0.Add(10*time.Second+time.Millisecond), false); len(got) != 2 {
		t.Errorf("due after the hold: %q, want both", got)
	}
	// Still locked, again and again: the poll backs off, up to deferPollMax;
	// past max_latency it is reported once.
	var stuck []string
	now := t0
	for range 10 {
		now = now.Add(100 * time.Millisecond)
		s, _ := d.update([]string{busy.Path}, scanner.Result{Deferred: []scanner.Deferred{busy}}, true, now, maxLat)
		stuck = append(stuck, s...)
	}
	if !slices.Equal(stuck, []string{busy.Path}) {
		t.Errorf("reported stuck %q, want the locked file once", stuck)
	}
	if got := d.paths[busy.Path].next.Sub(now); got != deferPollMax {
		t.Errorf("poll interval %v after many tries, want %v", got, deferPollMax)
	}
	shown, n := d.held(now, maxLat)
	if n != 2 || len(shown) != 2 || shown[0].Path != busy.Path || shown[1].Reason != "empty, held" {
		t.Errorf("status %+v (%d)", shown, n)
	}
	// A scan of another path settles nothing; a failed scan settles nothing.
	d.update([]string{"other"}, scanner.Result{}, true, now, maxLat)
	d.update([]string{""}, scanner.Result{}, false, now, maxLat)
	if len(d.paths) != 2 {
		t.Fatalf("%d deferred, want 2", len(d.paths))
	}
	// A scan that covers them and defers neither settles both.
	_, released := d.update([]string{"config"}, scanner.Result{}, true, now, maxLat)
	if !d.empty() || d.due() != nil || !slices.Equal(released, []string{busy.Path}) {
		t.Errorf("after settling: %d deferred, released %q", len(d.paths), released)
	}
}

// A file locked for less than max_latency is routine and not shown.
func TestDeferredHeldHidesShortLocks(t *testing.T) {
	var d deferredSet
	defer d.stop()
	t0 := time.Unix(1700000000, 0)
	d.update([]string{""}, scanner.Result{Deferred: []scanner.Deferred{{Path: "a", Reason: scanner.ReasonBeingWritten}}}, true, t0, time.Second)
	if shown, n := d.held(t0.Add(500*time.Millisecond), time.Second); len(shown) != 0 || n != 0 {
		t.Errorf("shown %+v", shown)
	}
	if shown, n := d.held(t0.Add(2*time.Second), time.Second); len(shown) != 1 || n != 1 {
		t.Errorf("shown %+v after max_latency", shown)
	}
}
