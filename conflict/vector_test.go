package conflict

import (
	"errors"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

func mustVector(t testing.TB, s string) Vector {
	t.Helper()
	v, err := ParseVector(s)
	if err != nil {
		t.Fatalf("ParseVector(%q): %v", s, err)
	}
	return v
}

var compareCases = []struct {
	a, b string
	want Order
}{
	{"{}", "{}", Equal},
	{"{a:1}", "{a:1}", Equal},
	{"{a:1}", "{}", ANewer},
	{"{}", "{a:1}", BNewer},
	{"{a:2}", "{a:1}", ANewer},
	{"{a:1,b:1}", "{a:1}", ANewer},
	{"{a:1}", "{a:1,b:1}", BNewer},
	{"{a:1}", "{b:1}", Concurrent},
	{"{a:2,b:1}", "{a:1,b:2}", Concurrent},
	{"{a:2,c:1}", "{a:2,b:1}", Concurrent},
	{"{1.p:100,2.s:105}", "{1.p:103}", Concurrent},
	{"{1.p:100,2.s:105}", "{1.p:50}", ANewer},
	{"{1.p:103}", "{1.p:50}", ANewer},
}

func TestCompare(t *testing.T) {
	for _, tc := range compareCases {
		t.Run(tc.a+"_vs_"+tc.b, func(t *testing.T) {
			a, b := mustVector(t, tc.a), mustVector(t, tc.b)
			if got := Compare(a, b); got != tc.want {
				t.Errorf("Compare(%s, %s) = %v, want %v", a, b, got, tc.want)
			}
			if got := Compare(b, a); got != tc.want.Mirror() {
				t.Errorf("Compare(%s, %s) = %v, want %v", b, a, got, tc.want.Mirror())
			}
		})
	}
}

func TestVectorOps(t *testing.T) {
	var zero Vector
	if zero.String() != "{}" || zero.Len() != 0 || zero.Get("a") != 0 {
		t.Fatalf("zero vector: %s len %d", zero, zero.Len())
	}
	v := zero.Increment("b").Increment("b").Advance("a", 7).Advance("c", 3)
	if got := v.String(); got != "{a:7,b:2,c:3}" {
		t.Fatalf("built %s", got)
	}
	if zero.Len() != 0 {
		t.Fatal("Increment modified its receiver")
	}
	w := v.Advance("b", 1) // lower: no change
	if Compare(w, v) != Equal {
		t.Errorf("Advance to a lower counter changed %s to %s", v, w)
	}
	u := v.Advance("b", 9)
	if v.Get("b") != 2 || u.Get("b") != 9 {
		t.Errorf("Advance shares memory: v %s u %s", v, u)
	}
	if got := v.Advance("z", 0); Compare(got, v) != Equal {
		t.Errorf("Advance(z, 0) = %s, want %s", got, v)
	}
	if got := maps.Collect(v.All()); len(got) != 3 || got["a"] != 7 || got["c"] != 3 {
		t.Errorf("All = %v", got)
	}
	maxed := zero.Advance("a", ^uint64(0))
	if got := maxed.Increment("a"); got.Get("a") != ^uint64(0) {
		t.Errorf("Increment overflowed: %s", got)
	}
	m := Merge(mustVector(t, "{a:2,c:1}"), mustVector(t, "{a:1,b:5}"))
	if m.String() != "{a:2,b:5,c:1}" {
		t.Errorf("Merge = %s", m)
	}
}

// smallVectors returns every vector over actors x, y, z with counters 0..2.
func smallVectors() []Vector {
	var out []Vector
	for i := range 27 {
		var v Vector
		v = v.Advance("x", uint64(i%3))
		v = v.Advance("y", uint64(i/3%3))
		v = v.Advance("z", uint64(i/9))
		out = append(out, v)
	}
	return out
}

// geq reports a ≥ b in the partial order.
func geq(a, b Vector) bool { o := Compare(a, b); return o == Equal || o == ANewer }

func checkPair(t *testing.T, a, b Vector) {
	t.Helper()
	ab, ba := Compare(a, b), Compare(b, a)
	if ba != ab.Mirror() {
		t.Fatalf("Compare(%s,%s)=%v but Compare(%s,%s)=%v", a, b, ab, b, a, ba)
	}
	if (ab == Equal) != (a.String() == b.String()) {
		t.Fatalf("Compare(%s,%s)=%v disagrees with text", a, b, ab)
	}
	m := Merge(a, b)
	if !geq(m, a) || !geq(m, b) {
		t.Fatalf("Merge(%s,%s)=%s is not an upper bound", a, b, m)
	}
	if Compare(m, Merge(b, a)) != Equal || Compare(Merge(m, a), m) != Equal {
		t.Fatalf("Merge(%s,%s) not commutative or idempotent", a, b)
	}
	if (ab == ANewer || ab == Equal) != (Compare(m, a) == Equal) {
		t.Fatalf("Merge(%s,%s)=%s: a ≥ b iff merge == a", a, b, m)
	}
}

// TestVectorPartialOrder checks the order laws on every pair and triple of
// a small domain: reflexive, antisymmetric, transitive; Merge is the least
// upper bound; Increment is strictly newer.
func TestVectorPartialOrder(t *testing.T) {
	vs := smallVectors()
	for _, a := range vs {
		if Compare(a, a) != Equal {
			t.Fatalf("Compare(%s, itself) = %v", a, Compare(a, a))
		}
		if Compare(a.Increment("x"), a) != ANewer || Compare(a.Increment("w"), a) != ANewer {
			t.Fatalf("Increment of %s is not newer", a)
		}
		for _, b := range vs {
			checkPair(t, a, b)
			if geq(a, b) && geq(b, a) && Compare(a, b) != Equal {
				t.Fatalf("antisymmetry: %s and %s", a, b)
			}
			m := Merge(a, b)
			for _, c := range vs {
				if geq(a, b) && geq(b, c) && !geq(a, c) {
					t.Fatalf("transitivity: %s ≥ %s ≥ %s", a, b, c)
				}
				if geq(c, a) && geq(c, b) && !geq(c, m) {
					t.Fatalf("Merge(%s,%s)=%s is not least: %s", a, b, m, c)
				}
				if Compare(Merge(m, c), Merge(a, Merge(b, c))) != Equal {
					t.Fatalf("Merge not associative on %s %s %s", a, b, c)
				}
			}
		}
	}
}

// TestVectorRandom covers larger vectors with a seeded generator.
func TestVectorRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	actors := []string{"1.nfs1", "2.nfs2", "3.nfs1", "4.nfs3", "5.b", "6.a"}
	gen := func() Vector {
		var v Vector
		for _, a := range actors {
			if r.IntN(3) > 0 {
				v = v.Advance(a, r.Uint64N(4)*r.Uint64N(1<<40))
			}
		}
		return v
	}
	for range 5000 {
		a, b := gen(), gen()
		checkPair(t, a, b)
		p, err := ParseVector(a.String())
		if err != nil || Compare(p, a) != Equal {
			t.Fatalf("round trip of %s: %v", a, err)
		}
	}
}

var parseValid = []string{"{}", "{a:1}", "{1.nfs1:100,2.nfs2:105}", "{A:18446744073709551615,a:1}", "{x-y_z.9:42}"}

var parseInvalid = []string{
	"", "{", "}", "a:1}", "{a:1", "{ }", "{a:1,}", "{,a:1}", "{a}", "{a:}", "{:1}",
	"{a:0}", "{a:01}", "{a:+1}", "{a:-1}", "{a:18446744073709551616}", "{b:1,a:1}",
	"{a:1,a:2}", "{a :1}", "{a:1 }", "{a:1:2}", "{a{:1}", "{é:1}", "{a\x00:1}",
}

func TestParseVector(t *testing.T) {
	for _, s := range parseValid {
		v, err := ParseVector(s)
		if err != nil {
			t.Errorf("ParseVector(%q): %v", s, err)
		} else if v.String() != s {
			t.Errorf("ParseVector(%q).String() = %q", s, v.String())
		}
	}
	for _, s := range parseInvalid {
		if v, err := ParseVector(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseVector(%q) = %s, %v; want ErrSyntax", s, v, err)
		}
	}
	if _, err := ParseVector("{" + strings.Repeat("a", MaxActorLen) + ":1}"); err != nil {
		t.Errorf("actor of MaxActorLen refused: %v", err)
	}
	if _, err := ParseVector("{" + strings.Repeat("a", MaxActorLen+1) + ":1}"); !errors.Is(err, ErrSyntax) {
		t.Errorf("overlong actor accepted: %v", err)
	}
}

func FuzzParseVector(f *testing.F) {
	for _, s := range append(parseValid, parseInvalid...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVector(s)
		if err != nil {
			return
		}
		if v.String() != s {
			t.Fatalf("ParseVector(%q).String() = %q: not canonical", s, v.String())
		}
		w, err := ParseVector(v.String())
		if err != nil || Compare(v, w) != Equal {
			t.Fatalf("round trip of %q: %s, %v", s, w, err)
		}
	})
}

func FuzzCompare(f *testing.F) {
	for _, tc := range compareCases {
		f.Add(tc.a, tc.b)
	}
	f.Fuzz(func(t *testing.T, sa, sb string) {
		a, errA := ParseVector(sa)
		b, errB := ParseVector(sb)
		if errA != nil || errB != nil {
			return
		}
		checkPair(t, a, b)
	})
}
