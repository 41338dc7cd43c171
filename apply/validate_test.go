package apply

import (
	"errors"
	"github.com/ncsync/ncsync/internal/relpath"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
)

var badPaths = []struct {
	name, path, reason string
}{
	{"empty", "", "empty"},
	{"absolute", "/etc/passwd", "absolute"},
	{"root slash", "/", "absolute"},
	{"dotdot", "..", `contains ".."`},
	{"dotdot first", "../x", `contains ".."`},
	{"dotdot inside", "a/../b", `contains ".."`},
	{"dotdot last", "a/..", `contains ".."`},
	{"dot", ".", "root"},
	{"dot first", "./a", "not clean"},
	{"dot inside", "a/./b", "not clean"},
	{"double slash", "a//b", "not clean"},
	{"trailing slash", "a/", "not clean"},
	{"NUL", "a\x00b", "NUL"},
	{"invalid UTF-8", "a/\xff\xfe", "UTF-8"},
	{"long component", strings.Repeat("x", 256), "255"},
	{"long path", strings.Repeat("abcdefg/", 512), "4095"},
	{"reserved", ".ncsync-tmp-123", "reserved"},
	{"reserved inside", "a/.ncsync-state/b", "reserved"},
}

var goodPaths = []string{
	"a", "a/b/c", "with space", "ünïcödé/名前", ".hidden", "..a", "a..", "...",
	".ncsync", "x.ncsync-tmp-1", "config/config.php", strings.Repeat("x", 255),
	strings.Repeat("abcdefg/", 511) + "abcdef",
}

func TestValidatePath(t *testing.T) {
	for _, tc := range badPaths {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePath(tc.path)
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("ValidatePath(%q) = %v, want a *PathError", tc.path, err)
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.HasPrefix(err.Error(), "refused path ") {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
			if !errors.Is(err, ErrRefused) {
				t.Errorf("error does not match ErrRefused")
			}
		})
	}
	for _, p := range goodPaths {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
	if got := ValidatePath("a/../b").Error(); got != `refused path "a/../b": contains ".."` {
		t.Errorf("message %q", got)
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, tc := range badPaths {
		f.Add(tc.path)
	}
	for _, p := range goodPaths {
		f.Add(p)
	}
	const root = "/srv/root"
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		if path.Clean(p) != p || path.IsAbs(p) || p == "." || p == "" {
			t.Fatalf("accepted unclean or absolute %q", p)
		}
		if !utf8.ValidString(p) || strings.ContainsRune(p, 0) || len(p) > relpath.MaxPath {
			t.Fatalf("accepted bad bytes or length %q", p)
		}
		for c := range strings.SplitSeq(p, "/") {
			if c == ".." || c == "." || c == "" || len(c) > relpath.MaxName || ignore.Reserved(c) {
				t.Fatalf("accepted component %q of %q", c, p)
			}
		}
		if j := filepath.Join(root, p); !strings.HasPrefix(j, root+"/") {
			t.Fatalf("%q joins to %q, outside %q", p, j, root)
		}
	})
}

func TestValidateEntry(t *testing.T) {
	data := content(1, 3000)
	src := newSource()
	file := fileEntry(t, src, "f", data, 0o644)
	if len(file.Chunks) < 3 {
		t.Fatalf("want several chunks, have %d", len(file.Chunks))
	}
	mod := func(e index.Entry, fn func(*index.Entry)) index.Entry {
		e.Chunks = append([]index.ChunkRef(nil), e.Chunks...)
		fn(&e)
		return e
	}
	tests := []struct {
		name   string
		e      index.Entry
		opts   Options
		reason string // "" = valid
	}{
		{"file", file, Options{}, ""},
		{"empty file", index.Entry{Path: "e", Kind: index.KindFile, Mode: 0o600, MtimeNs: mtime, FileID: chunker.FileID(nil)}, Options{}, ""},
		{"dir", dirEntry("d", 0o755), Options{}, ""},
		{"sticky dir", dirEntry("d", 0o1777), Options{}, ""},
		{"symlink", symlinkEntry("a/l", "../b"), Options{}, ""},
		{"tombstone", tombstone("x", 0), Options{}, ""},
		{"bad path", dirEntry("a/../b", 0o755), Options{}, `contains ".."`},
		{"tombstone bad path", tombstone("/etc", index.KindFile), Options{}, "absolute"},
		{"unknown kind", index.Entry{Path: "p", Kind: 9, MtimeNs: mtime}, Options{}, "unknown kind"},
		{"file type bits", dirEntry("d", 0o40755), Options{}, "outside 07777"},
		{"setuid", mod(file, func(e *index.Entry) { e.Mode = 0o4755 }), Options{}, "setuid"},
		{"setgid dir", dirEntry("d", 0o2775), Options{}, "setuid"},
		{"setuid stripped", mod(file, func(e *index.Entry) { e.Mode = 0o4755 }), Options{StripSetID: true}, ""},
		{"mtime before 1900", mod(file, func(e *index.Entry) { e.MtimeNs = minMtimeNs - 1 }), Options{}, "1900"},
		{"mtime 1900", mod(file, func(e *index.Entry) { e.MtimeNs = minMtimeNs }), Options{}, ""},
		{"negative size", mod(file, func(e *index.Entry) { e.Size = -1 }), Options{}, "negative"},
		{"size not sum", mod(file, func(e *index.Entry) { e.Size++ }), Options{}, "sum of its chunk sizes"},
		{"zero chunk", mod(file, func(e *index.Entry) { e.Chunks[1].Size = 0 }), Options{}, "chunk 1 has size 0"},
		{"huge chunk", mod(file, func(e *index.Entry) { e.Chunks[0].Size = chunker.MaxLimit + 1 }), Options{}, "chunk 0"},
		{"file id", mod(file, func(e *index.Entry) { e.FileID[0] ^= 1 }), Options{}, "file id"},
		{"chunk id", mod(file, func(e *index.Entry) { e.Chunks[2].ID[5] ^= 1 }), Options{}, "file id"},
		{"dir with chunks", index.Entry{Path: "d", Kind: index.KindDir, MtimeNs: mtime, Chunks: file.Chunks}, Options{}, "chunks"},
		{"symlink refused", symlinkEntry("l", "x"), Options{RefuseSymlinks: true}, "symlinks are refused"},
		{"empty target", symlinkEntry("l", ""), Options{}, "empty symlink target"},
		{"absolute target", symlinkEntry("l", "/etc/passwd"), Options{}, "absolute"},
		{"escaping target", symlinkEntry("l", "../x"), Options{}, "escapes"},
		{"escaping deep target", symlinkEntry("a/b/l", "../../../etc"), Options{}, "escapes"},
		{"etc target", symlinkEntry("a/l", "../../etc"), Options{}, "escapes"},
		{"dotdot after name", symlinkEntry("l", "s/../x"), Options{}, `".." after a name`},
		{"NUL target", symlinkEntry("l", "a\x00b"), Options{}, "NUL"},
		{"in-root target", symlinkEntry("a/b/l", "../../c/./d/"), Options{}, ""},
		{"dot target", symlinkEntry("l", "."), Options{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateEntry(tc.e, tc.opts)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("ValidateEntry = %v, want nil", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
				t.Fatalf("ValidateEntry = %v, want a *RefusedError", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}
