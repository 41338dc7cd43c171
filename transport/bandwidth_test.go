package transport

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// sendFor sends total bytes to node in 1 MiB messages and returns how long
// that took (in the bubble's fake time).
func sendFor(b *bandwidth, node string, total int) time.Duration {
	start := time.Now()
	for sent := 0; sent < total; sent += 1 << 20 {
		if err := b.wait(context.Background(), node, 1<<20); err != nil {
			panic(err)
		}
	}
	return time.Since(start)
}

func near(got, want time.Duration) bool {
	d := got - want
	return d > -100*time.Millisecond && d < 100*time.Millisecond
}

func TestBandwidthCaps(t *testing.T) {
	const mib = 1 << 20
	t.Run("total", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var b bandwidth
			b.init()
			b.set(mib, 0)
			// 20 MiB at 1 MiB/s, the first 4 MiB (the burst) at once.
			if got := sendFor(&b, "s1", 20*mib); !near(got, 16*time.Second) {
				t.Errorf("20 MiB at 1 MiB/s took %v, want 16s", got)
			}
		})
	})
	t.Run("per peer and total", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var b bandwidth
			b.init()
			b.set(3*mib, mib)
			var wg sync.WaitGroup
			took := make([]time.Duration, 2)
			for i, node := range []string{"s1", "s2"} {
				wg.Go(func() { took[i] = sendFor(&b, node, 12*mib) })
			}
			wg.Wait()
			// Each peer is held to 1 MiB/s (8 MiB after its burst); 2 MiB/s
			// together stays under the 3 MiB/s total.
			for i, d := range took {
				if !near(d, 8*time.Second) {
					t.Errorf("peer %d: 12 MiB at 1 MiB/s took %v, want 8s", i, d)
				}
			}
		})
	})
	t.Run("change while sending", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var b bandwidth
			b.init()
			if got := sendFor(&b, "s1", 100*mib); got != 0 {
				t.Errorf("uncapped send waited %v", got)
			}
			b.set(0, 2*mib)
			if got := sendFor(&b, "s1", 12*mib); !near(got, 4*time.Second) {
				t.Errorf("12 MiB at 2 MiB/s per peer took %v, want 4s", got)
			}
		})
	})
}
