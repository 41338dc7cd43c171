package chunker

import (
	"encoding/binary"
	"math/bits"
	"testing"
)

// gearTableID pins the gear table. If this test fails, chunk boundaries (and
// so every stored chunk id) would change: fix the table, not the constant.
const gearTableID = "a5ba0fba09a88d88767826c37e69e8868ce4cd0baf1a275e8cf7eaf9ff849d6c"

func TestGearTable(t *testing.T) {
	var b []byte
	for _, g := range gear {
		b = binary.LittleEndian.AppendUint64(b, g)
	}
	if got := Sum(b).String(); got != gearTableID {
		t.Fatalf("gear table id = %s, want %s", got, gearTableID)
	}
	for i, g := range gear {
		if gearLs[i] != g<<1 {
			t.Fatalf("gearLs[%d] = %#x, want %#x", i, gearLs[i], g<<1)
		}
	}
}

func TestMasks(t *testing.T) {
	for _, avg := range []int{128, 1 << 10, 8 << 10, 64 << 10, 1 << 20, 8 << 20} {
		k := newCutter(Config{Min: avg / 4, Avg: avg, Max: avg * 4})
		lg := bits.TrailingZeros(uint(avg))
		for _, m := range []struct {
			name string
			mask uint64
			ones int
		}{
			{"MaskS", k.maskS, lg + 2},
			{"MaskL", k.maskL, lg - 2},
		} {
			if n := bits.OnesCount64(m.mask); n != m.ones {
				t.Errorf("avg %d: %s %#x has %d one-bits, want %d", avg, m.name, m.mask, n, m.ones)
			}
			if lo, hi := bits.TrailingZeros64(m.mask), 63-bits.LeadingZeros64(m.mask); lo < maskLo || hi != maskHi {
				t.Errorf("avg %d: %s %#x spans bits %d..%d, want within %d..%d up to %d",
					avg, m.name, m.mask, lo, hi, maskLo, maskHi, maskHi)
			}
		}
		if k.maskSLs != k.maskS<<1 || k.maskLLs != k.maskL<<1 {
			t.Errorf("avg %d: shifted masks do not match", avg)
		}
	}
}

// refCut is the textbook one-byte-per-step FastCDC cut, against which the
// two-bytes-per-step scan is checked.
func refCut(c Config, data []byte) int {
	if len(data) <= c.Min {
		return len(data)
	}
	k := newCutter(c)
	end := min(len(data), c.Max)
	var h uint64
	for i := c.Min; i < end; i++ {
		h = h<<1 + gear[data[i]]
		m := k.maskL
		if i < c.Avg {
			m = k.maskS
		}
		if h&m == 0 {
			return i + 1
		}
	}
	return end
}

var (
	smallConfig = Config{Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10}
	tinyConfig  = Config{Min: 64, Avg: 256, Max: 1024}
	// oddConfig has an odd Min and odd distances between the bounds, so the
	// pair loop meets every alignment at region edges.
	oddConfig = Config{Min: 1001, Avg: 4096, Max: 9999}

	testConfigs = []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig()},
		{"small", smallConfig},
		{"tiny", tinyConfig},
		{"odd", oddConfig},
	}
)

func TestCutMatchesReference(t *testing.T) {
	inputs := []struct {
		name string
		data []byte
	}{
		{"random", randomBytes(10, 4<<20)},
		{"text", textBytes(11, 4<<20)},
		{"zeros", make([]byte, 1<<20)},
	}
	for _, tc := range testConfigs {
		for _, in := range inputs {
			cfg, data := tc.cfg, in.data
			t.Run(tc.name+"/"+in.name, func(t *testing.T) {
				cuts := 0
				for off := 0; off < len(data); cuts++ {
					// Also cut short copies, so every end-of-data position
					// relative to the pair loop is seen.
					for _, trim := range []int{0, 1, 2, 3} {
						d := data[off : len(data)-min(trim, len(data)-off)]
						if got, want := cfg.Cut(d), refCut(cfg, d); got != want {
							t.Fatalf("Cut at %d (len %d) = %d, reference %d", off, len(d), got, want)
						}
					}
					off += cfg.Cut(data[off:])
				}
				if cuts < 2 {
					t.Fatalf("only %d chunks", cuts)
				}
			})
		}
	}
}

func TestCutBounds(t *testing.T) {
	cfg := smallConfig
	data := randomBytes(12, 4*cfg.Max)
	for _, n := range []int{0, 1, cfg.Min - 1, cfg.Min} {
		if got := cfg.Cut(data[:n]); got != n {
			t.Errorf("Cut(len %d) = %d, want %d", n, got, n)
		}
	}
	for _, n := range []int{cfg.Min + 1, cfg.Avg, cfg.Max, cfg.Max + 1, len(data)} {
		got := cfg.Cut(data[:n])
		if got < cfg.Min || got > min(n, cfg.Max) {
			t.Errorf("Cut(len %d) = %d, outside [%d, %d]", n, got, cfg.Min, min(n, cfg.Max))
		}
	}
	if got := cfg.Cut(make([]byte, 4*cfg.Max)); got != cfg.Max {
		t.Errorf("Cut(zeros) = %d, want hard cut at Max %d", got, cfg.Max)
	}
}

// TestCutInvalidConfig checks that Cut stays in range for configs Validate
// rejects: it must never panic or return a length outside 1..len(data).
func TestCutInvalidConfig(t *testing.T) {
	data := randomBytes(13, 10000)
	for _, cfg := range []Config{
		{},
		{Min: -5, Avg: -1, Max: -1},
		{Min: 500, Avg: 100, Max: 50},
		{Min: 64, Avg: 300, Max: 1 << 30},
		{Min: 1 << 30, Avg: 1 << 31, Max: 1 << 32},
	} {
		for _, n := range []int{0, 1, 63, 64, 65, 1000, len(data)} {
			got := cfg.Cut(data[:n])
			if got < min(n, 1) || got > n {
				t.Errorf("%+v: Cut(len %d) = %d", cfg, n, got)
			}
		}
	}
}
