package watcher

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestDebouncer(t *testing.T) {
	const quiet, maxLat = 75 * time.Millisecond, 500 * time.Millisecond
	type step struct {
		at    time.Duration // since start
		touch string        // path to touch, or "" to pop
		want  []string      // popped at this time
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"quiet window", []step{
			{at: 0, touch: "f"},
			{at: 74 * time.Millisecond, want: nil},
			{at: 75 * time.Millisecond, want: []string{"f"}},
			{at: 200 * time.Millisecond, want: nil},
		}},
		{"event restarts quiet window", []step{
			{at: 0, touch: "f"},
			{at: 50 * time.Millisecond, touch: "f"},
			{at: 100 * time.Millisecond, want: nil},
			{at: 125 * time.Millisecond, want: []string{"f"}},
		}},
		{"due order", []step{
			{at: 0, touch: "a"},
			{at: 10 * time.Millisecond, touch: "b"},
			{at: 20 * time.Millisecond, touch: "a"},
			{at: 200 * time.Millisecond, want: []string{"b", "a"}},
		}},
		{"emitted again after new events", []step{
			{at: 0, touch: "f"},
			{at: 80 * time.Millisecond, want: []string{"f"}},
			{at: 90 * time.Millisecond, touch: "f"},
			{at: 160 * time.Millisecond, want: nil},
			{at: 165 * time.Millisecond, want: []string{"f"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newDebouncer(quiet, maxLat)
				start := time.Now()
				for _, s := range tc.steps {
					time.Sleep(start.Add(s.at).Sub(time.Now()))
					if s.touch != "" {
						d.touch(s.touch, time.Now())
						continue
					}
					if got := d.popDue(time.Now()); !slices.Equal(got, s.want) {
						t.Fatalf("at %v: popDue = %q, want %q", s.at, got, s.want)
					}
				}
			})
		})
	}
}

func TestDebouncerMaxLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDebouncer(75*time.Millisecond, 500*time.Millisecond)
		start := time.Now()
		var emitted []time.Duration
		// Written every 10 ms for 2 s: never quiet.
		for time.Since(start) < 2*time.Second {
			d.touch("f", time.Now())
			time.Sleep(10 * time.Millisecond)
			if got := d.popDue(time.Now()); len(got) > 0 {
				emitted = append(emitted, time.Since(start))
			}
		}
		want := []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second}
		if !slices.Equal(emitted, want) {
			t.Fatalf("emitted at %v, want %v", emitted, want)
		}
	})
}

func TestDebouncerMany(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDebouncer(75*time.Millisecond, 500*time.Millisecond)
		for i := range 10000 {
			d.touch(fmt.Sprintf("f%05d", i), time.Now())
			d.touch(fmt.Sprintf("f%05d", i), time.Now()) // coalesced
		}
		if d.len() != 10000 {
			t.Fatalf("len = %d", d.len())
		}
		next, ok := d.nextDue()
		if !ok || next.Sub(time.Now()) != 75*time.Millisecond {
			t.Fatalf("nextDue = %v, %v", next, ok)
		}
		time.Sleep(75 * time.Millisecond)
		got := d.popDue(time.Now())
		if len(got) != 10000 || got[0] != "f00000" || got[9999] != "f09999" {
			t.Fatalf("popDue returned %d paths (first %q)", len(got), got[:1])
		}
		if _, ok := d.nextDue(); ok || d.len() != 0 {
			t.Fatal("debouncer not empty")
		}
	})
}

func TestDebouncerDrainClear(t *testing.T) {
	d := newDebouncer(time.Second, time.Minute)
	now := time.Unix(0, 0)
	d.touch("b", now)
	d.touch("a", now.Add(time.Millisecond))
	if got := d.drain(); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("drain = %q", got)
	}
	d.touch("c", now)
	d.clear()
	if d.len() != 0 || len(d.popDue(now.Add(time.Hour))) != 0 {
		t.Fatal("clear left paths")
	}
	d.touch("c", now) // usable after clear
	if got := d.popDue(now.Add(time.Second)); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("popDue after clear = %q", got)
	}
}
