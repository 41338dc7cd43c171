package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

func TestApplyCreateReplaceDelete(t *testing.T) {
	resolvers(t, func(t *testing.T, walk bool) {
		f, root := openTest(t, Options{}, walk)
		if err := os.WriteFile(filepath.Join(root, "regular"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		src := newSource()
		v1 := fileEntry(t, src, "d/f", content(1, 5000), 0o640)
		res := mustApply(t, f, src, nil, dirEntry("d", 0o755), v1, symlinkEntry("d/l", "f"))
		if got := readFile(t, filepath.Join(root, "d/f")); !bytes.Equal(got, content(1, 5000)) {
			t.Fatal("file content differs")
		}
		st := lstat(t, filepath.Join(root, "d/f"))
		if res[1].Stat != fsys.StatOf(&st) {
			t.Errorf("Result.Stat %+v, disk %+v", res[1].Stat, fsys.StatOf(&st))
		}
		if tgt, _ := os.Readlink(filepath.Join(root, "d/l")); tgt != "f" {
			t.Errorf("symlink target %q", tgt)
		}

		// Replace: new content, new target, new dir mode.
		v2 := fileEntry(t, src, "d/f", content(2, 300), 0o600)
		mustApply(t, f, src, nil, dirEntry("d", 0o750), v2, symlinkEntry("d/l", "g"))
		if got := readFile(t, filepath.Join(root, "d/f")); !bytes.Equal(got, content(2, 300)) {
			t.Fatal("replaced file content differs")
		}
		checkMeta(t, filepath.Join(root, "d/f"), 0o600, mtime)
		checkMeta(t, filepath.Join(root, "d"), 0o750, mtime)
		if tgt, _ := os.Readlink(filepath.Join(root, "d/l")); tgt != "g" {
			t.Errorf("replaced symlink target %q", tgt)
		}

		// Delete each kind, then delete again: idempotent.
		for range 2 {
			mustApply(t, f, src, nil, tombstone("d/f", index.KindFile), tombstone("d/l", index.KindSymlink),
				tombstone("d", index.KindDir), tombstone("never/was", index.KindFile),
				tombstone("regular/x", index.KindFile)) // under a file: nothing there
		}
		if _, err := os.Lstat(filepath.Join(root, "d")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("d still there: %v", err)
		}
		noTemps(t, root)
	})
}

func TestApplyEmptyFile(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	e := fileEntry(t, src, "empty", nil, 0o644)
	mustApply(t, f, src, nil, e)
	if src.calls != 0 {
		t.Errorf("ChunkSource called %d times for an empty file", src.calls)
	}
	if st := lstat(t, filepath.Join(root, "empty")); st.Size != 0 {
		t.Errorf("size %d", st.Size)
	}
}

func TestApplyModesAndMtimes(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	var entries []index.Entry
	modes := []uint32{0o640, 0o755, 0o600, 0o1777}
	for i, m := range modes {
		d := dirEntry(fmt.Sprintf("d%d", i), m)
		d.MtimeNs = mtime + int64(i)
		fe := fileEntry(t, src, fmt.Sprintf("d%d/f", i), content(byte(i), 100), m)
		fe.MtimeNs = mtime - int64(i)
		l := symlinkEntry(fmt.Sprintf("d%d/l", i), "f")
		l.MtimeNs = mtime + 1000 + int64(i)
		entries = append(entries, d, fe, l)
	}
	old := index.Entry{Path: "old", Kind: index.KindDir, Mode: 0o755, MtimeNs: -86400_000_000_001} // 1969, odd ns
	entries = append(entries, old)
	mustApply(t, f, src, nil, entries...)
	for i, m := range modes {
		checkMeta(t, filepath.Join(root, fmt.Sprintf("d%d", i)), m, mtime+int64(i))
		checkMeta(t, filepath.Join(root, fmt.Sprintf("d%d/f", i)), m, mtime-int64(i))
		checkMeta(t, filepath.Join(root, fmt.Sprintf("d%d/l", i)), 0, mtime+1000+int64(i))
	}
	checkMeta(t, filepath.Join(root, "old"), 0o755, old.MtimeNs)
}

func TestApplyTypeChanges(t *testing.T) {
	kinds := []string{"file", "dir", "symlink"}
	for _, from := range kinds {
		for _, to := range kinds {
			if from == to {
				continue
			}
			t.Run(from+"→"+to, func(t *testing.T) {
				f, root := openTest(t, Options{}, false)
				src := newSource()
				build := func(kind string, seed byte) []index.Entry {
					switch kind {
					case "file":
						return []index.Entry{fileEntry(t, src, "p", content(seed, 2000), 0o644)}
					case "dir":
						// With contents: they go when the type changes.
						return []index.Entry{dirEntry("p", 0o755), dirEntry("p/sub", 0o700),
							fileEntry(t, src, "p/sub/x", content(seed, 10), 0o644)}
					}
					return []index.Entry{symlinkEntry("p", fmt.Sprintf("target%d", seed))}
				}
				mustApply(t, f, src, nil, build(from, 1)...)
				mustApply(t, f, src, nil, build(to, 2)...)
				p := filepath.Join(root, "p")
				st := lstat(t, p)
				switch to {
				case "file":
					if got := readFile(t, p); !bytes.Equal(got, content(2, 2000)) {
						t.Error("file content differs")
					}
				case "dir":
					if !isDir(&st) {
						t.Fatal("not a directory")
					}
					if got := readFile(t, filepath.Join(p, "sub/x")); !bytes.Equal(got, content(2, 10)) {
						t.Error("file in dir differs")
					}
					checkMeta(t, p, 0o755, mtime)
				case "symlink":
					if tgt, _ := os.Readlink(p); tgt != "target2" {
						t.Errorf("target %q", tgt)
					}
				}
				noTemps(t, root)
			})
		}
	}
}

// A batch in which later entries depend on earlier ones in the same group
// (same path twice, a file where a directory was, a deleted directory with
// files written into it first) applies as if entry by entry.
func TestApplyOrderWithinBatch(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	entries := []index.Entry{
		fileEntry(t, src, "a/x", content(3, 100), 0o644),
		tombstone("a", index.KindDir),
		fileEntry(t, src, "b/y", content(4, 100), 0o644),
		fileEntry(t, src, "b", content(5, 100), 0o644), // dir b (made for b/y) becomes a file
		fileEntry(t, src, "twice", content(1, 500), 0o644),
		fileEntry(t, src, "twice", content(2, 700), 0o644),
		fileEntry(t, src, "c", content(6, 100), 0o644),
		fileEntry(t, src, "c/z", content(7, 100), 0o644), // c is a file: refused
	}
	res, err := f.Apply(context.Background(), entries, src, Known{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if i == 7 {
			var re *RefusedError
			if !errors.As(r.Err, &re) {
				t.Errorf("c/z: %v, want refused (parent is a file)", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("entry %d %q: %v", i, entries[i].Path, r.Err)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a: %v", err)
	}
	if got := readFile(t, filepath.Join(root, "b")); !bytes.Equal(got, content(5, 100)) {
		t.Error("b differs")
	}
	if got := readFile(t, filepath.Join(root, "twice")); !bytes.Equal(got, content(2, 700)) {
		t.Error("twice is not the second version")
	}
	noTemps(t, root)
}

func TestApplyManyFilesOneBatch(t *testing.T) {
	for _, mode := range []SyncMode{SyncFile, SyncFS} {
		t.Run(mode.String(), func(t *testing.T) {
			f, root := openTest(t, Options{Sync: mode}, false)
			src := newSource()
			var entries []index.Entry
			for i := range maxPending*2 + 7 {
				entries = append(entries, fileEntry(t, src, fmt.Sprintf("d%d/f%d", i%5, i), content(byte(i), 64+i), 0o644))
			}
			mustApply(t, f, src, nil, entries...)
			for i := range entries {
				got := readFile(t, filepath.Join(root, entries[i].Path))
				if !bytes.Equal(got, content(byte(i), 64+i)) {
					t.Fatalf("%s differs", entries[i].Path)
				}
			}
			noTemps(t, root)
		})
	}
}

func TestApplyDirMeta(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	known := map[string]index.Entry{
		"":    {Kind: index.KindDir, Mode: 0o755, MtimeNs: mtime + 1},
		"a":   {Path: "a", Kind: index.KindDir, Mode: 0o711, MtimeNs: mtime + 2},
		"a/b": {Path: "a/b", Kind: index.KindDir, Mode: 0o750, MtimeNs: mtime + 3},
	}
	dirs := func(p string) (index.Entry, bool) { e, ok := known[p]; return e, ok }
	// No entries for a and a/b: they are created as missing parents and get
	// their metadata from dirs; "unknown" is left 0700 with a fresh mtime.
	mustApply(t, f, src, dirs, fileEntry(t, src, "a/b/f", content(1, 10), 0o644),
		fileEntry(t, src, "unknown/f", content(2, 10), 0o644), fileEntry(t, src, "top", content(3, 10), 0o644))
	checkMeta(t, filepath.Join(root, "a"), 0o711, mtime+2)
	checkMeta(t, filepath.Join(root, "a/b"), 0o750, mtime+3)
	if st := lstat(t, filepath.Join(root, "unknown")); st.Mode&0o7777 != 0o700 {
		t.Errorf("unknown parent mode %#o, want 0700", st.Mode&0o7777)
	}
	if st := lstat(t, root); st.Mtim.Nano() != mtime+1 {
		t.Errorf("root mtime %d, want %d", st.Mtim.Nano(), mtime+1)
	}

	// A change inside an existing directory restores only its mtime.
	if err := os.Chmod(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	known["a"] = index.Entry{Path: "a", Kind: index.KindDir, Mode: 0o700, MtimeNs: mtime + 20}
	mustApply(t, f, src, dirs, tombstone("a/b", index.KindDir))
	checkMeta(t, filepath.Join(root, "a"), 0o755, mtime+20)

	// A failed write still restores the mtime of the directory it used.
	bad := fileEntry(t, src, "a/g", content(4, 10), 0o644)
	src.chunks[bad.FileID][0][0] ^= 1
	known["a"] = index.Entry{Path: "a", Kind: index.KindDir, Mode: 0o700, MtimeNs: mtime + 30}
	res, _ := f.Apply(context.Background(), []index.Entry{bad}, src, Known{Dirs: dirs})
	if !errors.Is(res[0].Err, ErrDataMismatch) {
		t.Fatalf("want data mismatch, have %v", res[0].Err)
	}
	checkMeta(t, filepath.Join(root, "a"), 0o755, mtime+30)
}

func TestApplyLocalChange(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	res := mustApply(t, f, src, nil, fileEntry(t, src, "f", content(1, 100), 0o644), symlinkEntry("l", "f"))
	fileStat, linkStat := res[0].Stat, res[1].Stat

	// Unchanged since recorded: replaced.
	e := fileEntry(t, src, "f", content(2, 100), 0o644)
	res, err := f.Apply(context.Background(), []index.Entry{e}, src, Known{LastWritten: []index.Stat{fileStat}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("replace what ncsync wrote: %v, %v", err, res[0].Err)
	}
	fileStat = res[0].Stat

	// Changed locally: left alone, for every kind of replacement.
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("local edit"), 0o644); err != nil {
		t.Fatal(err)
	}
	repl := []index.Entry{
		fileEntry(t, src, "f", content(3, 100), 0o644),
		symlinkEntry("f", "x"),
		dirEntry("f", 0o755),
		tombstone("f", index.KindFile),
	}
	for _, e := range repl {
		res, err := f.Apply(context.Background(), []index.Entry{e}, src, Known{LastWritten: []index.Stat{fileStat}})
		if err != nil || !errors.Is(res[0].Err, ErrLocalChange) {
			t.Errorf("%s over a local edit: %v, %v; want ErrLocalChange", e.Kind, err, res[0].Err)
		}
		if got := readFile(t, filepath.Join(root, "f")); string(got) != "local edit" {
			t.Fatalf("local edit overwritten by %s", e.Kind)
		}
	}
	// A symlink retargeted locally is a local change too.
	if err := os.Remove(filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("elsewhere", filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	l := symlinkEntry("l", "g")
	if res, _ := f.Apply(context.Background(), []index.Entry{l}, src, Known{LastWritten: []index.Stat{linkStat}}); !errors.Is(res[0].Err, ErrLocalChange) {
		t.Errorf("symlink: %v, want ErrLocalChange", res[0].Err)
	}

	// What ncsync last wrote comes from Known only: an entry's own Stat
	// (the primary's, or a caller's leftover) is not read.
	l.Stat = index.Stat{Ino: 1}
	st := lstat(t, filepath.Join(root, "l"))
	if res, _ := f.Apply(context.Background(), []index.Entry{l}, src, Known{LastWritten: []index.Stat{fsys.StatOf(&st)}}); res[0].Err != nil {
		t.Errorf("symlink as last written, with another Entry.Stat: %v", res[0].Err)
	}
	noTemps(t, root)
}

func TestApplySetID(t *testing.T) {
	f, root := openTest(t, Options{StripSetID: true}, false)
	src := newSource()
	mustApply(t, f, src, nil, fileEntry(t, src, "suid", content(1, 10), 0o4755), dirEntry("sgid", 0o2775))
	checkMeta(t, filepath.Join(root, "suid"), 0o755, mtime)
	checkMeta(t, filepath.Join(root, "sgid"), 0o775, mtime)

	g, root2 := openTest(t, Options{}, false)
	res, err := g.Apply(context.Background(), []index.Entry{fileEntry(t, src, "suid", content(1, 10), 0o4755)}, src, Known{})
	if err != nil || !errors.Is(res[0].Err, ErrRefused) {
		t.Fatalf("setuid without StripSetID: %v, %v", err, res[0].Err)
	}
	isEmptyDir(t, root2)
}

func TestApplyChown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	f, root := openTest(t, Options{Chown: true}, false)
	src := newSource()
	own := func(e index.Entry, uid, gid uint32) index.Entry { e.UID, e.GID = uid, gid; return e }
	mustApply(t, f, src, nil,
		own(dirEntry("d", 0o750), 1001, 1002),
		own(fileEntry(t, src, "d/f", content(1, 10), 0o640), 1003, 1004),
		own(symlinkEntry("d/l", "f"), 1005, 1006))
	for _, c := range []struct {
		name     string
		uid, gid uint32
		mode     uint32
	}{{"d", 1001, 1002, 0o750}, {"d/f", 1003, 1004, 0o640}, {"d/l", 1005, 1006, 0}} {
		st := lstat(t, filepath.Join(root, c.name))
		if st.Uid != c.uid || st.Gid != c.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", c.name, st.Uid, st.Gid, c.uid, c.gid)
		}
		checkMeta(t, filepath.Join(root, c.name), c.mode, mtime)
	}
}

// Entries refused as bad input leave the disk alone; the rest of the batch
// is applied.
func TestApplyRefusesBadEntries(t *testing.T) {
	f, root := openTest(t, Options{RefuseSymlinks: true}, false)
	src := newSource()
	var entries []index.Entry
	for _, tc := range badPaths {
		if tc.path == index.RootPath {
			continue // as a directory, the root's own entry: TestApplyRootMetadata
		}
		entries = append(entries, index.Entry{Path: tc.path, Kind: index.KindDir, Mode: 0o755, MtimeNs: mtime})
	}
	entries = append(entries,
		index.Entry{Path: index.RootPath, Kind: index.KindDir, Deleted: true}, // the root is never removed
		index.Entry{Path: index.RootPath, Kind: index.KindFile, Mode: 0o644, MtimeNs: mtime},
		symlinkEntry("link", "x"), // symlinks refused in this folder
		index.Entry{Path: "fifo", Kind: 4, Mode: 0o644, MtimeNs: mtime}, // unknown kind
		fileEntry(t, src, "good", content(1, 10), 0o644))
	res, err := f.Apply(context.Background(), entries, src, Known{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res[:len(res)-1] {
		var re *RefusedError
		if !errors.As(r.Err, &re) {
			t.Errorf("entry %d %q: %v, want *RefusedError", i, entries[i].Path, r.Err)
		}
	}
	if res[len(res)-1].Err != nil {
		t.Fatalf("good entry: %v", res[len(res)-1].Err)
	}
	ents, _ := os.ReadDir(root)
	ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() == tempDirName })
	if len(ents) != 1 || ents[0].Name() != "good" {
		t.Errorf("root holds %v, want only good", ents)
	}
}

func TestApplyCanceled(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	ctx, cancel := context.WithCancel(context.Background())
	entries := []index.Entry{
		fileEntry(t, src, "a", content(1, 100), 0o644),
		fileEntry(t, src, "b", content(2, 100), 0o644),
	}
	cs := &cancelSource{memSource: src, cancel: cancel}
	res, err := f.Apply(ctx, entries, cs, Known{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	for i, r := range res {
		if r.Err == nil {
			t.Errorf("entry %d succeeded after cancel", i)
		}
	}
	noTemps(t, root)
	if _, err := os.Lstat(filepath.Join(root, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a was renamed into place after cancel: %v", err)
	}
}

// cancelSource cancels the context once the first file's chunks are read.
type cancelSource struct {
	*memSource
	cancel func()
}

func (s *cancelSource) Chunks(ctx context.Context, e index.Entry) (ChunkReader, error) {
	defer s.cancel()
	return s.memSource.Chunks(ctx, e)
}

func TestApplyRootGone(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	mustApply(t, f, src, nil, fileEntry(t, src, "x", content(1, 10), 0o644))
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	res, err := f.Apply(context.Background(), []index.Entry{fileEntry(t, src, "y", content(1, 10), 0o644)}, src, Known{})
	if !errors.Is(err, ErrRootGone) || !errors.Is(res[0].Err, ErrRootGone) {
		t.Fatalf("err %v, result %v; want ErrRootGone", err, res[0].Err)
	}
	// Replaced by another directory at the same path: still gone.
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apply(context.Background(), nil, src, Known{}); !errors.Is(err, ErrRootGone) {
		t.Fatalf("replaced root: %v, want ErrRootGone", err)
	}
}

func TestStatAndReadAt(t *testing.T) {
	resolvers(t, func(t *testing.T, walk bool) {
		f, root := openTest(t, Options{}, walk)
		src := newSource()
		data := content(1, 3000)
		mustApply(t, f, src, nil, fileEntry(t, src, "d/f", data, 0o644), symlinkEntry("d/l", "f"))
		if err := unix.Mkfifo(filepath.Join(root, "d/fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(t.TempDir(), filepath.Join(root, "out")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if err := f.ReadAt("d/f", 1000, buf); err != nil || !bytes.Equal(buf, data[1000:1100]) {
			t.Fatalf("ReadAt: %v", err)
		}
		if err := f.ReadAt("d/f", 2950, buf); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadAt past the end: %v", err)
		}
		for _, p := range []string{"d/l", "d/fifo", "out/x", "d", "../x"} {
			if err := f.ReadAt(p, 0, buf); err == nil {
				t.Errorf("ReadAt(%q) succeeded", p)
			}
		}
		for _, c := range []struct {
			p    string
			kind index.Kind
		}{{"d", index.KindDir}, {"d/f", index.KindFile}, {"d/l", index.KindSymlink}, {"d/fifo", 0}, {"out", index.KindSymlink}} {
			st, k, err := f.Stat(c.p)
			if err != nil || k != c.kind {
				t.Errorf("Stat(%q) = %v, %v; want kind %v", c.p, k, err, c.kind)
			}
			disk := lstat(t, filepath.Join(root, c.p))
			if st != fsys.StatOf(&disk) {
				t.Errorf("Stat(%q) = %+v, disk %+v", c.p, st, fsys.StatOf(&disk))
			}
		}
		if _, _, err := f.Stat("missing/x"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Stat(missing): %v", err)
		}
		var re *RefusedError
		if _, _, err := f.Stat("out/x"); !errors.As(err, &re) {
			t.Errorf("Stat through a symlink: %v, want refused", err)
		}
	})
}

// The root's own entry sets the folder root's mode and mtime, like any
// directory's, also when the same batch creates names in it; a later
// batch that changes the root restores its mtime from DirMeta.
func TestApplyRootMetadata(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	rootMeta := dirEntry(index.RootPath, 0o750)
	rootMeta.MtimeNs = mtime - 1e9
	res, err := f.Apply(context.Background(), []index.Entry{rootMeta, fileEntry(t, src, "a", content(1, 10), 0o644)}, src, Known{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("entry %d: %v", i, r.Err)
		}
	}
	checkMeta(t, root, 0o750, rootMeta.MtimeNs)
	if st := lstat(t, root); res[0].Stat.Ino != st.Ino || res[0].Stat.MtimeNs != st.Mtim.Nano() {
		t.Errorf("root entry's stat %+v, want the root's", res[0].Stat)
	}
	meta := func(p string) (index.Entry, bool) { return rootMeta, p == "" }
	if _, err := f.Apply(context.Background(), []index.Entry{fileEntry(t, src, "b", content(2, 10), 0o644)}, src, Known{Dirs: meta}); err != nil {
		t.Fatal(err)
	}
	checkMeta(t, root, 0o750, rootMeta.MtimeNs)
}
