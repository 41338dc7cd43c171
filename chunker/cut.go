package chunker

import "math/bits"

// gearSeed seeds the SplitMix64 sequence that fills the gear table. Changing
// it (or the generator) changes every chunk boundary and so every chunk id
// ever stored: it must never change. TestGearTable pins the result.
const gearSeed = 0x6e6373796e632d31 // "ncsync-1"

// Mask bits are spread evenly over bits maskLo..maskHi of the hash. High bits
// of a gear hash depend on more input bytes (bit k sees the last k+1 bytes),
// so spreading the mask over the upper part of the word widens the effective
// window to ~63 bytes, as the paper's zero-padded masks do. Bit 63 is left
// out so that a mask shifted left by one (for the two-bytes-per-step loop)
// keeps all its bits.
const (
	maskLo = 15
	maskHi = 62
)

var (
	// gear maps a byte to a random 64-bit value: hash = hash<<1 + gear[b].
	gear [256]uint64
	// gearLs is gear shifted left by one, for the first byte of each pair.
	gearLs [256]uint64
	// spreadMasks[n] has n one-bits spread over bits maskLo..maskHi.
	spreadMasks [maskHi - maskLo + 2]uint64
)

func init() {
	s := uint64(gearSeed)
	for i := range gear {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		gear[i] = z ^ z>>31
		gearLs[i] = gear[i] << 1
	}
	for n := 1; n < len(spreadMasks); n++ {
		spreadMasks[n] = spreadMask(n)
	}
}

// spreadMask returns a mask with n one-bits, the first at maskHi and the
// rest evenly spaced down to maskLo.
func spreadMask(n int) uint64 {
	if n == 1 {
		return 1 << maskHi
	}
	var m uint64
	span := maskHi - maskLo
	for i := range n {
		m |= 1 << (maskHi - (i*span+(n-1)/2)/(n-1))
	}
	return m
}

// cutter is a Config with its masks computed, ready to search cut points.
type cutter struct {
	min, avg, max  int
	maskS, maskSLs uint64 // before Avg: log2(Avg)+2 bits, harder to match
	maskL, maskLLs uint64 // from Avg on: log2(Avg)-2 bits, easier to match
}

// newCutter prepares c for cutting. It does not validate c, but clamps it
// so that an invalid Config still gives cut points within 1..len(data).
func newCutter(c Config) cutter {
	lg := bits.Len(uint(max(c.Avg, 1))) - 1 // floor(log2(Avg))
	clampBits := func(n int) int { return min(max(n, 1), len(spreadMasks)-1) }
	k := cutter{
		min:   max(c.Min, 0),
		avg:   c.Avg,
		max:   max(c.Max, 1),
		maskS: spreadMasks[clampBits(lg+2)],
		maskL: spreadMasks[clampBits(lg-2)],
	}
	k.maskSLs = k.maskS << 1
	k.maskLLs = k.maskL << 1
	return k
}

// Cut returns the length of the first chunk of data: FastCDC with
// normalized chunking (level 2) as in Xia et al., TPDS 2020. The first Min
// bytes are skipped without hashing; up to Avg the harder mask applies,
// after it the easier one, and Max is a hard cut. If len(data) <= Min it
// returns len(data); if no cut point is found before the end of data (and
// len(data) < Max), it returns len(data).
//
// c should be valid (see Validate). Cut computes the masks on each call; that
// costs a few nanoseconds, small next to scanning a chunk.
func (c Config) Cut(data []byte) int {
	k := newCutter(c)
	return k.cut(data)
}

func (k *cutter) cut(data []byte) int {
	end := min(len(data), k.max)
	if end <= k.min {
		return end
	}
	center := min(max(k.avg, k.min), end)
	i, h := scan(data[k.min:center], 0, k.maskS, k.maskSLs)
	if i >= 0 {
		return k.min + i
	}
	i, _ = scan(data[center:end], h, k.maskL, k.maskLLs)
	if i >= 0 {
		return center + i
	}
	return end
}

// scan rolls the gear hash h over b and returns the length of b up to and
// including the first byte after which h&mask == 0, or -1 and the hash so far.
//
// It takes bytes in pairs (the paper's "rolling two bytes each time"): the
// first byte's gear value is pre-shifted by one, so after it the register
// holds 2*h, tested against mask<<1, and after the second it holds h exactly.
// The shift-and-add then compiles to one LEA, leaving two single-cycle
// operations per pair on the dependency chain. Two pairs per iteration
// halve the loop overhead; slicing b forward keeps the loop free of bounds
// checks.
func scan(b []byte, h, mask, maskLs uint64) (int, uint64) {
	n := len(b)
	for len(b) >= 4 {
		h = h<<2 + gearLs[b[0]]
		if h&maskLs == 0 {
			return n - len(b) + 1, h
		}
		h += gear[b[1]]
		if h&mask == 0 {
			return n - len(b) + 2, h
		}
		h = h<<2 + gearLs[b[2]]
		if h&maskLs == 0 {
			return n - len(b) + 3, h
		}
		h += gear[b[3]]
		if h&mask == 0 {
			return n - len(b) + 4, h
		}
		b = b[4:]
	}
	if len(b) >= 2 {
		h = h<<2 + gearLs[b[0]]
		if h&maskLs == 0 {
			return n - len(b) + 1, h
		}
		h += gear[b[1]]
		if h&mask == 0 {
			return n - len(b) + 2, h
		}
		b = b[2:]
	}
	if len(b) == 1 {
		h = h<<1 + gear[b[0]]
		if h&mask == 0 {
			return n, h
		}
	}
	return -1, h
}
