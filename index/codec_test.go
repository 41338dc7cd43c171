package index

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ncsync/ncsync/chunker"
)

// codecCases are valid entries covering every field; they seed the fuzzers.
var codecCases = []struct {
	name string
	e    Entry
}{
	{"dir", Entry{Path: "a", Seq: 1, Kind: KindDir, Mode: 0o755, MtimeNs: 1}},
	{"symlink", Entry{Path: "a/l", Seq: 2, Kind: KindSymlink, Mode: 0o777, Target: "../b"}},
	{"tombstone", Entry{Path: "gone", Seq: 3, Kind: KindFile, Deleted: true,
		Version: Version{Epoch: 2, Seq: 3, Node: "n1"}}},
	{"file", Entry{Path: "dir/file.txt", Seq: 1 << 40, Kind: KindFile, Mode: 0o4755,
		UID: 33, GID: math.MaxUint32, MtimeNs: -5, Size: 3000,
		FileID:  chunker.FileID([]chunker.ID{{1}, {2}, {1}}),
		Chunks:  []ChunkRef{{ID: chunker.ID{1}, Size: 1000}, {ID: chunker.ID{2}, Size: 1000}, {ID: chunker.ID{1}, Size: 1000}},
		Version: Version{Epoch: 7, Seq: 1 << 40, Node: "primary"},
		Stat:    Stat{Dev: 64769, Ino: 1234567, Size: 3000, MtimeNs: math.MinInt64, CtimeNs: math.MaxInt64}}},
	{"empty file", Entry{Path: "e", Seq: 9, Kind: KindFile, FileID: chunker.FileID(nil)}},
}

func TestEntryRoundTrip(t *testing.T) {
	for _, tc := range codecCases {
		t.Run(tc.name, func(t *testing.T) {
			b, off := encodeEntry(&tc.e)
			got, err := decodeEntry(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.e) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tc.e)
			}
			hdr, section, err := decodeHeader(b)
			if err != nil || !bytes.Equal(section, b[off:]) || hdr.Path != tc.e.Path {
				t.Fatalf("header: %+v, section at %d, err %v", hdr, len(b)-len(section), err)
			}
			if again := encodeWithChunkSection(&hdr, section); !bytes.Equal(again, b) {
				t.Fatalf("re-encode with raw chunk section differs")
			}
		})
	}
}

func TestDecodeEntryRejects(t *testing.T) {
	good, _ := encodeEntry(&codecCases[3].e)
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version", mutate(func(b []byte) []byte { b[0] = 2; return b })},
		{"truncated", good[:len(good)-1]},
		{"truncated header", good[:10]},
		{"trailing", append(bytes.Clone(good), 0)},
		{"kind 0", encodeRaw(t, func(e *Entry) { e.Kind = 0 })},
		{"kind 4", encodeRaw(t, func(e *Entry) { e.Kind = 4 })},
		{"overlong varint", []byte{entryVersion, 0x81, 0x00, 'a'}},
		{"path length past end", []byte{entryVersion, 0x7f, 'a'}},
		{"huge chunk count", append(headerOnly(t), 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"chunk count one too many", append(headerOnly(t), 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
			21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 1)},
		{"chunk size over uint32", append(headerOnly(t), append(append([]byte{1}, make([]byte, 32)...), 0x80, 0x80, 0x80, 0x80, 0x10)...)},
		{"varint overflow", []byte{entryVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeEntry(tc.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode = %v, want ErrCorrupt", err)
			}
		})
	}
}

// encodeRaw encodes a valid entry after mutating it, bypassing validation.
func encodeRaw(t *testing.T, f func(*Entry)) []byte {
	t.Helper()
	e := codecCases[0].e
	f(&e)
	b, _ := encodeEntry(&e)
	return b
}

func headerOnly(t *testing.T) []byte {
	t.Helper()
	e := codecCases[0].e
	return appendHeader(nil, &e)
}

func FuzzDecodeEntry(f *testing.F) {
	for _, tc := range codecCases {
		b, _ := encodeEntry(&tc.e)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, _ := encodeEntry(&e)
		if !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(x)) != x:\n x %x\n y %x", b, again)
		}
	})
}

// randEntry returns a random valid entry (nil Chunks when there are none, as
// decoding returns).
func randEntry(r *rand.Rand) Entry {
	str := func(max int) string {
		b := make([]byte, r.IntN(max+1))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	var id chunker.ID
	if r.IntN(3) > 0 {
		for i := range id {
			id[i] = byte(r.IntN(256))
		}
	}
	e := Entry{
		Path: str(40) + "x", Seq: r.Uint64() >> r.IntN(64), Kind: Kind(1 + r.IntN(3)),
		Mode: r.Uint32(), UID: r.Uint32(), GID: r.Uint32(),
		MtimeNs: r.Int64() - r.Int64(), Size: r.Int64() >> r.IntN(63), Target: str(20),
		FileID: id, Deleted: r.IntN(4) == 0,
		Version: Version{Epoch: r.Uint64(), Seq: r.Uint64() >> r.IntN(64), Node: str(10)},
		Stat: Stat{Dev: r.Uint64(), Ino: r.Uint64(), Size: r.Int64() - r.Int64(),
			MtimeNs: r.Int64() - r.Int64(), CtimeNs: -r.Int64()},
	}
	for range r.IntN(5) {
		var c ChunkRef
		c.ID[r.IntN(32)] = byte(r.IntN(256))
		c.Size = r.Uint32() >> r.IntN(32)
		e.Chunks = append(e.Chunks, c)
	}
	return e
}

func TestEntryRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		e := randEntry(r)
		b, _ := encodeEntry(&e)
		got, err := decodeEntry(b)
		if err != nil {
			t.Fatalf("case %d: decode: %v", i, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, e)
		}
	}
}

var metaCases = []Meta{
	{},
	{ClusterID: "c1", Node: "n1", Epoch: 3, Lineage: []EpochMark{
		{Epoch: 1, Node: "n0", StartedNs: 10},
		{Epoch: 3, Node: "n1", Start: map[string]uint64{"docs": 40, "": 1, "photos": 7}, StartedNs: -1},
	}},
	{ClusterID: "c1", Node: "n2", Epoch: 2, Promoted: true, Lineage: []EpochMark{
		{Epoch: 1, Node: "n1"}, {Epoch: 2, Node: "n2", Start: map[string]uint64{"docs": 9}}}},
}

func TestMetaRoundTrip(t *testing.T) {
	for i, m := range metaCases {
		got, err := decodeMeta(encodeMeta(&m))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("case %d: got %+v, %v; want %+v", i, got, err, m)
		}
	}
	for _, b := range [][]byte{nil, {2}, {metaVersion, 0, 0, 0, 0xff, 0xff, 0x03}} {
		if _, err := decodeMeta(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeMeta(%x) = %v, want ErrCorrupt", b, err)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	for _, m := range metaCases {
		f.Add(encodeMeta(&m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		again := encodeMeta(&m)
		if b[0] == metaVersion1 { // upgraded on write: compare decoded
			if m2, err := decodeMeta(again); err != nil || !reflect.DeepEqual(m2, m) {
				t.Fatalf("v1 meta %x re-encoded as %x decodes to %+v, %v", b, again, m2, err)
			}
			return
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(x)) != x:\n x %x\n y %x", b, again)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	s := folderState{Head: 5, Position: 4, Stats: FolderStats{Files: 1, Dirs: 2, Symlinks: 3, Tombstones: 4, Bytes: 1 << 50}}
	f.Add(s.encode())
	f.Add((&folderState{}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil || b == nil {
			return
		}
		if again := s.encode(); !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(x)) != x:\n x %x\n y %x", b, again)
		}
	})
}
