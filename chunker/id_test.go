package chunker

import (
	"strings"
	"testing"
)

// blake3Empty is BLAKE3-256 of no input, from the BLAKE3 specification.
const blake3Empty = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"

func TestSum(t *testing.T) {
	if got := Sum(nil).String(); got != blake3Empty {
		t.Fatalf("Sum(nil) = %s, want %s", got, blake3Empty)
	}
	if Sum([]byte("a")) == Sum([]byte("b")) {
		t.Fatal("Sum collides on one-byte inputs")
	}
}

func TestIDStringParse(t *testing.T) {
	id := Sum([]byte("ncsync"))
	if id.IsZero() {
		t.Fatal("IsZero on a real id")
	}
	if !(ID{}).IsZero() {
		t.Fatal("zero ID is not IsZero")
	}
	s := id.String()
	if s != strings.ToLower(s) || len(s) != 64 {
		t.Fatalf("String() = %q, want 64 lowercase hex digits", s)
	}
	for _, in := range []string{s, strings.ToUpper(s)} {
		got, err := ParseID(in)
		if err != nil || got != id {
			t.Fatalf("ParseID(%q) = %v, %v; want %v", in, got, err, id)
		}
	}
}

func TestParseIDErrors(t *testing.T) {
	good := Sum(nil).String()
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"short", good[:63]},
		{"long", good + "0"},
		{"not hex", "zz" + good[2:]},
		{"space", " " + good[1:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if id, err := ParseID(tt.in); err == nil {
				t.Fatalf("ParseID(%q) = %v, want error", tt.in, id)
			}
		})
	}
}

func FuzzParseID(f *testing.F) {
	f.Add(Sum(nil).String())
	f.Add("")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != strings.ToLower(s) {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
	})
}

func TestFileID(t *testing.T) {
	if got := FileID(nil).String(); got != blake3Empty {
		t.Fatalf("FileID(nil) = %s, want BLAKE3 of nothing %s", got, blake3Empty)
	}
	ids := []ID{Sum([]byte("a")), Sum([]byte("b")), Sum([]byte("c"))}
	var cat []byte
	for _, id := range ids {
		cat = append(cat, id[:]...)
	}
	want := Sum(cat)
	if got := FileID(ids); got != want {
		t.Fatalf("FileID = %v, want BLAKE3 of concatenated ids %v", got, want)
	}
	if FileID(ids[:2]) == want || FileID([]ID{ids[1], ids[0], ids[2]}) == want {
		t.Fatal("FileID ignores length or order")
	}

	var h FileHasher
	if h.Sum() != FileID(nil) {
		t.Fatal("zero FileHasher.Sum() != FileID(nil)")
	}
	for i, id := range ids {
		h.Add(id)
		// Sum must not disturb the running state.
		if got := h.Sum(); got != FileID(ids[:i+1]) {
			t.Fatalf("after %d ids: Sum = %v, want %v", i+1, got, FileID(ids[:i+1]))
		}
	}
	h.Reset()
	if h.Sum() != FileID(nil) {
		t.Fatal("Sum after Reset != FileID(nil)")
	}
	many := make([]ID, 1000) // 32000 bytes: several BLAKE3 chunks
	for i := range many {
		many[i] = Sum([]byte{byte(i), byte(i >> 8)})
		h.Add(many[i])
	}
	cat = cat[:0]
	for _, id := range many {
		cat = append(cat, id[:]...)
	}
	if h.Sum() != Sum(cat) || FileID(many) != Sum(cat) {
		t.Fatal("FileHasher over many ids differs from BLAKE3 of their concatenation")
	}
	if a := testing.AllocsPerRun(10, func() { h.Reset(); h.Add(many[0]); _ = h.Sum() }); a != 0 {
		t.Errorf("FileHasher Reset/Add/Sum: %v allocs, want 0", a)
	}
}
