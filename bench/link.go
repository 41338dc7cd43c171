package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Link is an emulated network link between a tool's two sides: a rate
// limit in each direction and a round-trip time. The zero value is no
// emulation (the machine's own loopback or veth pair).
type Link struct {
	// Rate is bytes per second in each direction; 0 is unlimited.
	Rate int64 `json:"rate_bytes_per_s,omitempty"`
	// RTT is the round-trip time added: half of it each way.
	RTT time.Duration `json:"rtt_ns,omitempty"`
}

// Shaped reports whether l emulates anything.
func (l Link) Shaped() bool { return l.Rate > 0 || l.RTT > 0 }

// String is the link as the report names it ("100 Mbit/s, 50 ms RTT").
func (l Link) String() string {
	var parts []string
	if l.Rate > 0 {
		parts = append(parts, FormatRate(l.Rate))
	}
	if l.RTT > 0 {
		parts = append(parts, fmt.Sprintf("%s RTT", l.RTT))
	}
	if len(parts) == 0 {
		return "unshaped"
	}
	return strings.Join(parts, ", ")
}

// rateUnits are the suffixes ParseRate accepts: bits per second the way
// tc writes them, and bytes per second the way ncsync's config does.
var rateUnits = []struct {
	suffix string
	bytes  float64 // bytes per second per unit
}{
	{"gbit", 1e9 / 8}, {"mbit", 1e6 / 8}, {"kbit", 1e3 / 8}, {"bit", 1.0 / 8},
	{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10},
	{"gb", 1e9}, {"mb", 1e6}, {"kb", 1e3}, {"b", 1},
}

// ParseRate reads a link rate into bytes per second: bits ("100Mbit",
// "1gbit", "512kbit") or bytes ("10MB/s", "50MiB/s", "12500000"), with
// an optional "/s" and "ps" ("100mbps" is megabits, as tc reads it).
func ParseRate(s string) (int64, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	v = strings.TrimSuffix(v, "/s")
	if n, ok := strings.CutSuffix(v, "bps"); ok {
		v = n + "bit"
	}
	mult := 1.0
	for _, u := range rateUnits {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = strings.TrimSpace(n), u.bytes
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f*mult > 1<<50 {
		return 0, fmt.Errorf("invalid rate %q: use bits per second (\"100Mbit\", \"1Gbit\") or bytes per second (\"10MB/s\")", s)
	}
	return int64(math.Round(f * mult)), nil
}

// FormatRate writes bytes per second as bits per second ("100 Mbit/s").
func FormatRate(bps int64) string {
	bits := float64(bps) * 8
	switch {
	case bits >= 1e9:
		return strconv.FormatFloat(bits/1e9, 'f', -1, 64) + " Gbit/s"
	case bits >= 1e6:
		return strconv.FormatFloat(math.Round(bits/1e4)/100, 'f', -1, 64) + " Mbit/s"
	default:
		return strconv.FormatFloat(math.Round(bits/10)/100, 'f', -1, 64) + " kbit/s"
	}
}

// tokenBucket paces bytes to a rate: a sender takes tokens for what it is
// about to send and waits until the bucket would have held them. Tokens
// run into debt instead of blocking inside the bucket, so that callers
// wait outside its lock and a clock can be handed in (tests).
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens (bytes) per second
	burst  float64 // most tokens the bucket holds
	tokens float64
	last   time.Time
}

// newTokenBucket is a full bucket of burst bytes refilled at rate bytes
// per second.
func newTokenBucket(rate, burst int64) *tokenBucket {
	return &tokenBucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst)}
}

// linkBurst is the bucket size for a rate: 10 ms of it, at least 16 KiB
// (a few full-size segments, as tc's tbf needs at least one).
func linkBurst(rate int64) int64 { return max(rate/100, 16<<10) }

// reserve takes n bytes' tokens at now and returns how long the caller
// must wait before sending them.
func (b *tokenBucket) reserve(now time.Time, n int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) || b.last.IsZero() {
		b.last = now
	}
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// shaper carries one direction of a connection over an emulated link:
// bytes become deliverable a one-way delay after they were read, and
// leave no faster than the direction's token bucket allows (shared by
// every connection in that direction, as on one link).
type shaper struct {
	bucket *tokenBucket // nil: no rate limit
	delay  time.Duration
}

// shaperSegment bounds what is paced at once: sending 256 KiB in one go
// at 100 Mbit/s would be a 20 ms burst.
const shaperSegment = 16 << 10

// segment is data read from the source, stamped with when it was read.
type segment struct {
	b  []byte
	at time.Time
}

// copy moves src to dst until src ends or either fails, calling pass
// before each write (false cuts the copy: errLinkCut) and counted with
// each amount written. With a delay, a reader goroutine keeps
// reading while earlier data waits out its delay (the link holds data in
// flight), up to a bounded queue; it is joined before copy returns (on a
// write error, by closing src).
func (s shaper) copy(dst io.Writer, src io.ReadCloser, pass func() bool, counted func(int)) error {
	if s.delay <= 0 {
		size := 256 << 10 // unpaced: few large reads
		if s.bucket != nil {
			size = shaperSegment
		}
		buf := make([]byte, size)
		for {
			k, err := src.Read(buf)
			if k > 0 {
				if werr := s.send(dst, buf[:k], pass, counted); werr != nil {
					return werr
				}
			}
			if err != nil {
				return err
			}
		}
	}
	queue := make(chan segment, 1024) // 16 MiB in flight at most: 1 Gbit/s × 100 ms
	stop := make(chan struct{})
	var rerr error
	done := make(chan struct{})
	go func() { // joined through done
		defer close(done)
		defer close(queue)
		for {
			buf := make([]byte, shaperSegment)
			k, err := src.Read(buf)
			if k > 0 {
				select {
				case queue <- segment{b: buf[:k], at: time.Now()}:
				case <-stop:
					return
				}
			}
			if err != nil {
				rerr = err
				return
			}
		}
	}()
	var werr error
	for seg := range queue {
		if d := time.Until(seg.at.Add(s.delay)); d > 0 {
			time.Sleep(d)
		}
		if werr = s.send(dst, seg.b, pass, counted); werr != nil {
			break
		}
	}
	close(stop)
	if werr != nil {
		src.Close() // ends a read the reader may be blocked in
		<-done
		return werr
	}
	<-done
	return rerr
}

// errLinkCut ends a copy whose pass said no.
var errLinkCut = errors.New("link cut")

// send paces b through the bucket and writes it.
func (s shaper) send(dst io.Writer, b []byte, pass func() bool, counted func(int)) error {
	if !pass() {
		return errLinkCut
	}
	if s.bucket != nil {
		if d := s.bucket.reserve(time.Now(), len(b)); d > 0 {
			time.Sleep(d)
		}
	}
	if _, err := dst.Write(b); err != nil {
		return err
	}
	counted(len(b))
	return nil
}

// shapers returns the two directions of l, each with a bucket of its own.
func (l Link) shapers() (up, down shaper) {
	up.delay, down.delay = l.RTT/2, l.RTT-l.RTT/2
	if l.Rate > 0 {
		up.bucket = newTokenBucket(l.Rate, linkBurst(l.Rate))
		down.bucket = newTokenBucket(l.Rate, linkBurst(l.Rate))
	}
	return up, down
}
