package chunker

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// TestShiftResistance edits a 64 MiB random file and counts the chunk ids of
// the edited file that the original does not have. Content-defined cuts
// resynchronise after an edit, so only the chunks around it may change.
func TestShiftResistance(t *testing.T) {
	const size = 64 << 20
	orig := randomBytes(60, size)
	c, err := New(nil, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(nil)
	chunks := func(data []byte) []Chunk {
		r.Reset(data)
		c.Reset(r)
		var out []Chunk
		for {
			ch, _, err := c.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ch)
		}
	}
	base := chunks(orig)
	known := make(map[ID]bool, len(base))
	for _, ch := range base {
		known[ch.ID] = true
	}

	// The middle of the file, and (the worst case) right at and just before
	// the original cut point nearest to it. An overwrite across a cut point
	// changes the bytes of two chunks and removes the cut between them, so
	// there one more new id is allowed than in the middle of a chunk.
	cut := 0
	for _, ch := range base {
		if ch.Offset >= size/2 {
			cut = int(ch.Offset)
			break
		}
	}
	extra := randomBytes(61, 4096)
	edited := make([]byte, 0, size+len(extra))
	type edit struct {
		name    string
		apply   func(dst []byte) []byte
		maxDiff int
	}
	var edits []edit
	for _, pos := range []struct {
		name         string
		at           int
		maxOverwrite int
	}{{"middle", size / 2, 2}, {"at cut", cut, 3}, {"before cut", cut - 1, 3}} {
		at := pos.at
		for _, n := range []int{1, 7, 100, 1000} {
			edits = append(edits,
				edit{fmt.Sprintf("%s/insert %d", pos.name, n), func(dst []byte) []byte {
					return append(append(append(dst, orig[:at]...), extra[:n]...), orig[at:]...)
				}, 3},
				edit{fmt.Sprintf("%s/delete %d", pos.name, n), func(dst []byte) []byte {
					return append(append(dst, orig[:at]...), orig[at+n:]...)
				}, 3},
			)
		}
		edits = append(edits, edit{pos.name + "/overwrite 4096", func(dst []byte) []byte {
			dst = append(dst, orig...)
			copy(dst[at:], extra)
			return dst
		}, pos.maxOverwrite})
	}

	worst := 0
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			edited = e.apply(edited[:0])
			diff, n := 0, 0
			for _, ch := range chunks(edited) {
				n++
				if !known[ch.ID] {
					diff++
				}
			}
			worst = max(worst, diff)
			t.Logf("%d of %d chunk ids new", diff, n)
			if diff > e.maxDiff {
				t.Errorf("%d chunk ids differ, want at most %d", diff, e.maxDiff)
			}
		})
	}
	t.Logf("original: %d chunks; most new ids after one edit: %d", len(base), worst)
}
