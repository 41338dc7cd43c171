package preserve

import (
	"errors"
	"path"
	"strings"
	"testing"
	"time"
)

func validRecord() Record {
	r := Record{ID: "20261122-105300-1a2b3c4d", Folder: "data", Path: "alice/files/a.txt", Kind: KindFile,
		Epoch: 2, Node: "nfs2", Cause: CauseLocalChange, Reason: "edited locally",
		Preserved: time.Unix(1790000000, 5).UTC(), Size: 42, Mode: 0o640, UID: 33, GID: 33, MtimeNs: -5}
	r.Hash[0], r.Hash[31] = 0xab, 0xcd
	return r
}

func TestRecordRoundTrip(t *testing.T) {
	link := validRecord()
	link.Kind, link.Target, link.Size, link.Hash = KindSymlink, "../b", 4, [32]byte{}
	dir := validRecord()
	dir.Kind, dir.Size, dir.Hash, dir.Seq, dir.Cause = KindDir, 0, [32]byte{}, 77, CauseRejoin
	for _, r := range []Record{validRecord(), link, dir} {
		t.Run(string(r.Kind), func(t *testing.T) {
			b, err := EncodeRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if got != r {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
			}
		})
	}
}

// decodeCases are meta.json texts: the valid ones and the ones refused.
var decodeCases = []struct {
	name string
	edit func(string) string
	ok   bool
}{
	{"valid", func(s string) string { return s }, true},
	{"escape", func(s string) string { return strings.Replace(s, `"alice/files/a.txt"`, `"../etc/passwd"`, 1) }, false},
	{"absolute", func(s string) string { return strings.Replace(s, `"alice/files/a.txt"`, `"/etc/passwd"`, 1) }, false},
	{"unclean", func(s string) string { return strings.Replace(s, `"alice/files/a.txt"`, `"alice//a"`, 1) }, false},
	{"nul in path", func(s string) string { return strings.Replace(s, `"alice/files/a.txt"`, `"a\u0000b"`, 1) }, false},
	{"bad id", func(s string) string { return strings.Replace(s, `"20261122-105300-1a2b3c4d"`, `"../x"`, 1) }, false},
	{"short hash", func(s string) string { return strings.Replace(s, `"blake3": "ab`, `"blake3": "`, 1) }, false},
	{"negative size", func(s string) string { return strings.Replace(s, `"size": 42`, `"size": -1`, 1) }, false},
	{"mode bits", func(s string) string { return strings.Replace(s, `"mode": 416`, `"mode": 999999`, 1) }, false},
	{"unknown kind", func(s string) string { return strings.Replace(s, `"kind": "file"`, `"kind": "fifo"`, 1) }, false},
	{"unknown field", func(s string) string { return strings.Replace(s, `{`, `{"extra": 1,`, 1) }, false},
	{"format", func(s string) string { return strings.Replace(s, `"format": 1`, `"format": 2`, 1) }, false},
	{"trailing", func(s string) string { return s + "{}" }, false},
	{"empty folder", func(s string) string { return strings.Replace(s, `"folder": "data"`, `"folder": ""`, 1) }, false},
	{"control in node", func(s string) string { return strings.Replace(s, `"node": "nfs2"`, `"node": "a\nb"`, 1) }, false},
	{"not json", func(string) string { return "nope" }, false},
	{"huge", func(s string) string {
		return strings.Replace(s, `"edited locally"`, `"`+strings.Repeat("x", maxMetaSize)+`"`, 1)
	}, false},
}

func TestDecodeRecord(t *testing.T) {
	b, err := EncodeRecord(validRecord())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord([]byte(tc.edit(string(b))))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	b, err := EncodeRecord(validRecord())
	if err != nil {
		f.Fatal(err)
	}
	for _, tc := range decodeCases {
		f.Add([]byte(tc.edit(string(b))))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// Whatever is accepted is safe to use as a path and a file name,
		// and encodes back to an equal record.
		if checkPath(r.Path) != nil || strings.HasPrefix(r.Path, "/") || strings.Contains("/"+r.Path+"/", "/../") {
			t.Fatalf("accepted path %q", r.Path)
		}
		if _, err := ParseID(string(r.ID)); err != nil {
			t.Fatalf("accepted id %q", r.ID)
		}
		again, err := EncodeRecord(r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := DecodeRecord(again)
		if err != nil || r2 != r {
			t.Fatalf("re-decode: %v\n%+v\n%+v", err, r2, r)
		}
	})
}

var idCases = []struct {
	id string
	ok bool
}{
	{"20261122-105300-1a2b3c4d", true},
	{"20261122-105300-1A2B3C4D", false},
	{"20261122-105300-1a2b3c4", false},
	{"20261322-105300-1a2b3c4d", false},
	{"../../../../etc/passwd", false},
	{"20261122-105300/1a2b3c4d", false},
	{"", false},
}

func TestParseID(t *testing.T) {
	for _, tc := range idCases {
		t.Run(tc.id, func(t *testing.T) {
			_, err := ParseID(tc.id)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseID(%q) = %v, want ok %v", tc.id, err, tc.ok)
			}
		})
	}
	id := newID(time.Date(2026, 11, 22, 10, 53, 0, 0, time.UTC))
	if _, err := ParseID(string(id)); err != nil || !id.Time().Equal(time.Date(2026, 11, 22, 10, 53, 0, 0, time.UTC)) {
		t.Fatalf("newID: %q %v %v", id, err, id.Time())
	}
}

func FuzzParseID(f *testing.F) {
	for _, tc := range idCases {
		f.Add(tc.id)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(string(id), "/.\x00") || len(id) != idLen || id.Time().IsZero() {
			t.Fatalf("accepted %q", s)
		}
	})
}

var pathCases = []struct {
	p  string
	ok bool
}{
	{"a", true}, {"a/b/c.txt", true}, {"..a", true}, {"", false}, {".", false}, {"..", false},
	{"../a", false}, {"a/../b", false}, {"/a", false}, {"a/", false}, {"a//b", false}, {"./a", false},
	{"a\x00b", false}, {"\xff", false}, {strings.Repeat("x", 256), false},
}

func TestCheckPath(t *testing.T) {
	for _, tc := range pathCases {
		t.Run(tc.p, func(t *testing.T) {
			if err := checkPath(tc.p); (err == nil) != tc.ok {
				t.Fatalf("checkPath(%q) = %v, want ok %v", tc.p, err, tc.ok)
			}
		})
	}
}

func FuzzCheckPath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkPath(p) != nil {
			return
		}
		if path.Clean(p) != p || path.IsAbs(p) || strings.HasPrefix(p, "../") || p == ".." || strings.ContainsRune(p, 0) {
			t.Fatalf("accepted %q", p)
		}
		for c := range strings.SplitSeq(p, "/") {
			if c == ".." || c == "." || c == "" || len(c) > maxNameLen {
				t.Fatalf("accepted %q with component %q", p, c)
			}
		}
	})
}
