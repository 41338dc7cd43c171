package patch

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func splice(b []byte, at int, cut int, ins []byte) []byte {
	out := append([]byte{}, b[:at]...)
	out = append(out, ins...)
	return append(out, b[at+cut:]...)
}

func TestDiffApply(t *testing.T) {
	base := random(1, 106_403)
	cases := []struct {
		name       string
		target     []byte
		maxLiteral int // literal bytes the delta may carry at most
	}{
		{"same", base, 0},
		{"4 KiB overwritten", splice(base, 50_000, 4096, random(2, 4096)), 4096 + 2*DefaultBlockSize},
		{"100 B inserted at the front", splice(base, 0, 0, random(3, 100)), 100 + DefaultBlockSize},
		{"100 B inserted inside", splice(base, 33_333, 0, random(4, 100)), 100 + 2*DefaultBlockSize},
		{"cut", splice(base, 10_000, 20_000, nil), 2 * DefaultBlockSize},
		{"tail of the base", base[60_000:], DefaultBlockSize},
		{"unrelated", random(5, 70_000), 70_000},
		{"shorter than a block", random(6, 100), 100},
		{"empty", nil, 0},
	}
	sig := Sign(base, DefaultBlockSize)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Diff(sig, c.target)
			if len(d) > c.maxLiteral+64 {
				t.Errorf("delta of %d bytes, want at most %d", len(d), c.maxLiteral+64)
			}
			got, err := Apply(base, sig.BlockSize, d, len(c.target), len(c.target))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.target) {
				t.Fatal("applied delta differs from the target")
			}
		})
	}
}

func TestSignatureRoundTrip(t *testing.T) {
	base := random(7, 10_000)
	sig := Sign(base, 1024)
	if len(sig.Weak) != 10 {
		t.Fatalf("%d blocks, want 10", len(sig.Weak))
	}
	got, err := DecodeSignature(sig.Encode(), len(base))
	if err != nil {
		t.Fatal(err)
	}
	if got.BlockSize != 1024 || got.BaseLen != len(base) || len(got.Weak) != 10 || got.Strong[9] != sig.Strong[9] || got.Weak[3] != sig.Weak[3] {
		t.Fatalf("decoded %+v", got)
	}
	if _, err := DecodeSignature(sig.Encode(), len(base)-1); !errors.Is(err, ErrSignature) {
		t.Errorf("a base over the limit: %v, want ErrSignature", err)
	}
}

func TestRolledWeakSum(t *testing.T) {
	// Diff rolls the weak sum: every offset's rolled sum must match the
	// sum computed afresh, or shifted blocks would be missed.
	b := random(8, 5000)
	base := b[1234 : 1234+MinBlockSize]
	sig := Sign(base, MinBlockSize)
	d := Diff(sig, b)
	if len(d) > len(b)-MinBlockSize+32 {
		t.Fatalf("delta of %d bytes: the shifted block was not found", len(d))
	}
}

func TestDecodeSignatureRefuses(t *testing.T) {
	good := Sign(random(9, 5000), 1024).Encode()
	cases := map[string][]byte{
		"empty":            nil,
		"block too small":  Sign(random(9, 5000), 128).Encode(),
		"block too large":  append([]byte{0x80, 0x80, 0x08}, good[2:]...),
		"short":            good[:len(good)-1],
		"long":             append(append([]byte{}, good...), 0),
		"huge base length": {0x80, 0x08, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for name, b := range cases {
		if _, err := DecodeSignature(b, 1<<20); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
}

func TestApplyRefuses(t *testing.T) {
	base := random(10, 4096)
	lit := func(n int) []byte { return append([]byte{byte(n << 1)}, make([]byte, n)...) }
	cases := map[string]struct {
		delta []byte
		size  int
	}{
		"literal past the delta": {[]byte{10 << 1, 1, 2}, 10},
		"literal past the size":  {lit(20), 10},
		"empty literal":          {[]byte{0}, 0},
		"block outside the base": {[]byte{1<<1 | 1, 4}, 1024},
		"run outside the base":   {[]byte{2<<1 | 1, 3}, 2048},
		"copy past the size":     {[]byte{1<<1 | 1, 0}, 1000},
		"copy without a block":   {[]byte{1<<1 | 1}, 1024},
		"short of the size":      {lit(10), 11},
		"huge count":             {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}, 1024},
		"size over the limit":    {lit(10), 1 << 30},
		"overflowing block":      {[]byte{1<<1 | 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 1024},
		"unterminated op":        {[]byte{0x80}, 1},
	}
	for name, c := range cases {
		if _, err := Apply(base, 1024, c.delta, c.size, 1<<20); !errors.Is(err, ErrDelta) {
			t.Errorf("%s: %v, want ErrDelta", name, err)
		}
	}
	if _, err := Apply(base, 100, nil, 0, 10); !errors.Is(err, ErrDelta) {
		t.Errorf("block size 100: %v, want ErrDelta", err)
	}
}

// FuzzApply feeds Apply arbitrary deltas: it must refuse or build exactly
// the size asked, never panic or read outside the base.
func FuzzApply(f *testing.F) {
	base := random(11, 5000)
	sig := Sign(base, MinBlockSize)
	f.Add(Diff(sig, splice(base, 100, 10, []byte("edit"))), 4994)
	f.Add([]byte{1<<1 | 1, 19}, 136)
	f.Add([]byte{3 << 1, 'a', 'b', 'c'}, 3)
	f.Fuzz(func(t *testing.T, delta []byte, size int) {
		out, err := Apply(base, MinBlockSize, delta, size, 1<<16)
		if err == nil && len(out) != size {
			t.Fatalf("built %d bytes, asked %d", len(out), size)
		}
	})
}

// FuzzDecodeSignature: a decoded signature is consistent with its base
// length and limits.
func FuzzDecodeSignature(f *testing.F) {
	f.Add(Sign(random(12, 3000), 1024).Encode())
	f.Add([]byte{0x80, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, err := DecodeSignature(b, 1<<16)
		if err != nil {
			return
		}
		if sig.BaseLen > 1<<16 || len(sig.Weak) != blocks(sig.BaseLen, sig.BlockSize) || len(sig.Strong) != len(sig.Weak) {
			t.Fatalf("inconsistent signature %d %d %d", sig.BaseLen, sig.BlockSize, len(sig.Weak))
		}
		_ = Diff(sig, random(13, 4000))
	})
}

func BenchmarkDiff(b *testing.B) {
	base := random(14, 128<<10)
	sig := Sign(base, DefaultBlockSize)
	target := splice(base, 1000, 0, random(15, 100))
	b.SetBytes(int64(len(target)))
	b.ReportAllocs()
	for b.Loop() {
		Diff(sig, target)
	}
}
