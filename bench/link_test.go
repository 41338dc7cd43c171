package bench

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"100Mbit", 12_500_000}, {"100mbit", 12_500_000}, {"100mbps", 12_500_000}, {"1Gbit", 125_000_000},
		{"512kbit", 64_000}, {"10MB/s", 10_000_000}, {"10MB", 10_000_000}, {"50MiB/s", 50 << 20},
		{"2.5MB/s", 2_500_000}, {"12500000", 12_500_000}, {"0", 0},
	} {
		got, err := ParseRate(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "fast", "-1Mbit", "10 parsecs", "1e300Gbit", "Mbit"} {
		if got, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) = %d, want an error", bad, got)
		}
	}
	if got := FormatRate(12_500_000); got != "100 Mbit/s" {
		t.Errorf("FormatRate(12.5 MB/s) = %q", got)
	}
}

// TestTokenBucket drives the bucket with a hand-made clock: a full bucket
// lets its burst through at once, then each byte costs 1/rate seconds of
// waiting, and idle time refills it no further than the burst.
func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newTokenBucket(1000, 100) // 1,000 B/s, 100 B burst
	if d := b.reserve(t0, 100); d != 0 {
		t.Fatalf("the burst waited %v", d)
	}
	if d := b.reserve(t0, 50); d != 50*time.Millisecond {
		t.Fatalf("50 B past the burst: wait %v, want 50ms", d)
	}
	// The debt is paid after 50 ms; 50 more bytes then wait 50 ms.
	if d := b.reserve(t0.Add(50*time.Millisecond), 50); d != 50*time.Millisecond {
		t.Fatalf("next 50 B: wait %v, want 50ms", d)
	}
	// A long pause refills only up to the burst.
	late := t0.Add(time.Hour)
	if d := b.reserve(late, 100); d != 0 {
		t.Fatalf("a refilled burst waited %v", d)
	}
	if d := b.reserve(late, 1); d != time.Millisecond {
		t.Fatalf("one byte past a refilled burst: wait %v, want 1ms", d)
	}
	// A clock that steps back does not mint tokens.
	if d := b.reserve(late.Add(-time.Minute), 1); d != 2*time.Millisecond {
		t.Fatalf("after a step back: wait %v, want 2ms", d)
	}
}

// arrivals records when each byte count reached the far end of a link.
type arrivals struct {
	mu    sync.Mutex
	total int
	at    []time.Time
	sizes []int
	data  bytes.Buffer
}

func (a *arrivals) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total += len(p)
	a.at = append(a.at, time.Now())
	a.sizes = append(a.sizes, a.total)
	a.data.Write(p)
	return len(p), nil
}

// TestShaperRate sends 1 MB over a 1 MB/s link in a synctest bubble (its
// clock moves only when every goroutine waits): the last byte arrives
// one second minus the burst after the first was sent, never sooner.
func TestShaperRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, n = 1_000_000, 1_000_000
		up, _ := Link{Rate: rate}.shapers()
		pr, pw := io.Pipe()
		var got arrivals
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- up.copy(&got, pr, always, func(int) {}) }()
		payload := bytes.Repeat([]byte("0123456789abcdef"), n/16)
		pw.Write(payload)
		pw.Close()
		if err := <-done; err != io.EOF {
			t.Fatalf("copy: %v, want io.EOF", err)
		}
		if !bytes.Equal(got.data.Bytes(), payload) {
			t.Fatal("bytes changed on the way")
		}
		burst := time.Duration(float64(linkBurst(rate)) / rate * float64(time.Second))
		want := time.Second - burst
		if el := got.at[len(got.at)-1].Sub(start); el < want || el > want+10*time.Millisecond {
			t.Errorf("1 MB at 1 MB/s took %v, want %v (1 s less the %v burst)", el, want, burst)
		}
		// Pacing, not one late burst: half the bytes are through at about
		// half the time.
		for i, s := range got.sizes {
			if s >= n/2 {
				if el := got.at[i].Sub(start); el < want/2-20*time.Millisecond || el > want/2+20*time.Millisecond {
					t.Errorf("half the bytes after %v, want about %v", el, want/2)
				}
				break
			}
		}
	})
}

// TestShaperDelay: with an RTT, each direction delivers what it read half
// the RTT later, and keeps reading meanwhile (data in flight), so a
// stream is delayed, not slowed.
func TestShaperDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up, down := Link{RTT: 100 * time.Millisecond}.shapers()
		if up.delay+down.delay != 100*time.Millisecond || up.bucket != nil {
			t.Fatalf("shapers of a 100 ms RTT: %+v %+v", up, down)
		}
		pr, pw := io.Pipe()
		var got arrivals
		done := make(chan error, 1)
		go func() { done <- up.copy(&got, pr, always, func(int) {}) }()
		start := time.Now()
		for range 10 { // one write every 10 ms, all in flight at once
			pw.Write([]byte("x"))
			time.Sleep(10 * time.Millisecond)
		}
		pw.Close()
		if err := <-done; err != io.EOF {
			t.Fatalf("copy: %v, want io.EOF", err)
		}
		if len(got.at) != 10 {
			t.Fatalf("%d deliveries, want 10", len(got.at))
		}
		for i, at := range got.at {
			want := start.Add(time.Duration(i)*10*time.Millisecond + 50*time.Millisecond)
			if !at.Equal(want) {
				t.Errorf("write %d delivered at +%v, want +%v", i, at.Sub(start), want.Sub(start))
			}
		}
	})
}

// TestShaperWriteErrorJoinsReader: a failing destination ends the copy,
// and the reader goroutine with it, although the source never ends.
func TestShaperWriteErrorJoinsReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up, _ := Link{RTT: 10 * time.Millisecond}.shapers()
		pr, pw := io.Pipe()
		go pw.Write([]byte("data")) // ends with the pipe's close
		err := up.copy(failWriter{}, pr, always, func(int) {})
		if err != io.ErrShortWrite {
			t.Fatalf("copy: %v, want the write error", err)
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

func always() bool { return true }
