package scanner

import (
	"maps"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

func TestScanNewTree(t *testing.T) {
	e := newEnv(t)
	big := randomData(1, 20000)
	files := map[string]string{
		"big.bin":                 big,
		"empty":                   "",
		"dir with space/a b.txt":  "spaces",
		"ünïcødé/写真.jpg":          "unicode",
		"new\nline":               "newline in the name",
		"-rf":                     "leading dash",
		"deep/er/and/deeper/leaf": "deep",
	}
	for p, data := range files {
		e.write(p, data)
	}
	e.mkdir("empty dir")
	e.symlink("../outside/target", "link")
	if err := syscall.Chmod(e.abs("big.bin"), 0o4755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(e.abs("empty dir"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(e.abs("-rf"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2020, 2, 29, 12, 0, 0, 123456789, time.UTC)
	if err := os.Chtimes(e.abs("empty"), mtime, mtime); err != nil {
		t.Fatal(err)
	}

	r := e.scan()

	wantPaths := []string{"-rf", "big.bin", "deep", "deep/er", "deep/er/and", "deep/er/and/deeper",
		"deep/er/and/deeper/leaf", "dir with space", "dir with space/a b.txt", "empty", "empty dir",
		"link", "new\nline", "ünïcødé", "ünïcødé/写真.jpg"}
	if got := paths(e.store.journalFrom(0)); !slices.Equal(got, wantPaths) {
		t.Fatalf("journal = %q\nwant      %q", got, wantPaths)
	}
	var total int64
	for _, data := range files {
		total += int64(len(data))
	}
	if r.Changed != len(wantPaths) || r.Walked != len(wantPaths) || r.Hashed != len(files) ||
		r.HashedBytes != total || r.Deleted != 0 || r.Skipped != 0 || r.Errors != 0 {
		t.Errorf("result %+v", r)
	}

	for p, data := range files {
		en := e.entry(p)
		id, refs := chunksOf(t, []byte(data))
		if en.Kind != index.KindFile || en.Size != int64(len(data)) || en.FileID != id || !slices.Equal(en.Chunks, refs) {
			t.Errorf("%q: kind %v size %d id %v chunks %d; want size %d id %v chunks %d",
				p, en.Kind, en.Size, en.FileID, len(en.Chunks), len(data), id, len(refs))
		}
		if en.Version.Epoch != testVersion.Epoch || en.Version.Node != testVersion.Node || en.Seq == 0 {
			t.Errorf("%q: version %+v seq %d", p, en.Version, en.Seq)
		}
	}
	if n := len(e.entry("big.bin").Chunks); n < 3 {
		t.Errorf("big.bin has %d chunks, want several", n)
	}
	if en := e.entry("empty"); len(en.Chunks) != 0 || en.FileID != chunker.FileID(nil) || en.MtimeNs != mtime.UnixNano() {
		t.Errorf("empty file entry %+v", en)
	}
	if en := e.entry("big.bin"); en.Mode != 0o4755 {
		t.Errorf("setuid file mode %o, want 4755", en.Mode)
	}
	if en := e.entry("empty dir"); en.Kind != index.KindDir || en.Mode != 0o1777 || en.Size != 0 {
		t.Errorf("sticky dir entry %+v", en)
	}
	if en := e.entry("-rf"); en.UID != 1234 || en.GID != 5678 {
		t.Errorf("owner %d:%d, want 1234:5678", en.UID, en.GID)
	}
	if en := e.entry("link"); en.Kind != index.KindSymlink || en.Target != "../outside/target" || en.Size != 0 {
		t.Errorf("symlink entry %+v", en)
	}
	for _, p := range wantPaths {
		en, st := e.entry(p), e.lstat(p)
		want := index.Stat{Dev: st.Dev, Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}
		if en.Stat != want || en.MtimeNs != st.Mtim.Nano() || en.Mode != st.Mode&0o7777 {
			t.Errorf("%q: stat %+v mtime %d mode %o; want %+v", p, en.Stat, en.MtimeNs, en.Mode, want)
		}
	}
	if _, ok := e.store.get(""); ok {
		t.Error("the root was journaled")
	}
}

func TestRescanUnchanged(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.write("d"+string(rune('a'+i%3))+"/f"+string(rune('a'+i)), randomData(uint64(i), 3000))
	}
	e.symlink("x", "l")
	e.scan()
	before := e.s.Counters()
	n := e.store.journalLen()

	r := e.scan()
	after := e.s.Counters()
	if r.Hashed != 0 || r.HashedBytes != 0 || r.Changed != 0 || r.Deleted != 0 || r.Walked != 24 {
		t.Errorf("second scan %+v", r)
	}
	if after.FilesHashed != before.FilesHashed || after.BytesHashed != before.BytesHashed {
		t.Errorf("counters moved: before %+v after %+v", before, after)
	}
	if after.Scans != before.Scans+1 {
		t.Errorf("Scans %d, want %d", after.Scans, before.Scans+1)
	}
	if got := e.store.journalFrom(n); len(got) != 0 {
		t.Errorf("journaled %q", paths(got))
	}
}

func TestFileChanges(t *testing.T) {
	type check func(t *testing.T, e *env, r Result, before index.Entry, journaled []index.Entry)
	journaledOnce := func(t *testing.T, r Result, journaled []index.Entry) {
		t.Helper()
		if r.Changed != 1 || len(journaled) != 1 || journaled[0].Path != "f" {
			t.Fatalf("result %+v journaled %q, want f once", r, paths(journaled))
		}
	}
	cases := []struct {
		name   string
		change func(t *testing.T, e *env)
		check  check
	}{
		{"content grows", func(t *testing.T, e *env) { e.write("f", randomData(1, 9000)+"tail") },
			func(t *testing.T, e *env, r Result, before index.Entry, j []index.Entry) {
				journaledOnce(t, r, j)
				id, refs := chunksOf(t, []byte(randomData(1, 9000)+"tail"))
				if r.Hashed != 1 || j[0].FileID != id || !slices.Equal(j[0].Chunks, refs) {
					t.Errorf("hashed %d, id %v want %v", r.Hashed, j[0].FileID, id)
				}
			}},
		{"chmod only: new entry, no read", func(t *testing.T, e *env) {
			if err := os.Chmod(e.abs("f"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, e *env, r Result, before index.Entry, j []index.Entry) {
			journaledOnce(t, r, j)
			if r.Hashed != 0 || r.HashedBytes != 0 {
				t.Errorf("chmod re-read the file: %+v", r)
			}
			if j[0].Mode != 0o600 || j[0].FileID != before.FileID || !slices.Equal(j[0].Chunks, before.Chunks) ||
				j[0].Size != before.Size || j[0].MtimeNs != before.MtimeNs {
				t.Errorf("entry %+v, want the old content with mode 600", j[0])
			}
			if j[0].Stat.CtimeNs == before.Stat.CtimeNs || j[0].Stat.CtimeNs != e.lstat("f").Ctim.Nano() {
				t.Errorf("stat not updated: %+v", j[0].Stat)
			}
		}},
		{"chown only: new entry, no read", func(t *testing.T, e *env) {
			if err := os.Chown(e.abs("f"), 4321, 8765); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, e *env, r Result, before index.Entry, j []index.Entry) {
			journaledOnce(t, r, j)
			if r.Hashed != 0 || j[0].UID != 4321 || j[0].GID != 8765 || j[0].FileID != before.FileID {
				t.Errorf("result %+v entry %+v", r, j[0])
			}
		}},
		{"touch to the same mtime: read, stat only", func(t *testing.T, e *env) {
			m := time.Unix(0, e.entry("f").MtimeNs)
			if err := os.Chtimes(e.abs("f"), m, m); err != nil {
				t.Fatal(err)
			}
		}, statOnly},
		{"chown and back: read, stat only", func(t *testing.T, e *env) {
			if err := os.Chown(e.abs("f"), 99, 99); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(e.abs("f"), 0, 0); err != nil {
				t.Fatal(err)
			}
		}, statOnly},
		{"same size rewrite with mtime restored: read, journaled", func(t *testing.T, e *env) {
			m := time.Unix(0, e.entry("f").MtimeNs)
			e.write("f", randomData(2, 9000))
			if err := os.Chtimes(e.abs("f"), m, m); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, e *env, r Result, before index.Entry, j []index.Entry) {
			journaledOnce(t, r, j)
			id, _ := chunksOf(t, []byte(randomData(2, 9000)))
			if r.Hashed != 1 || j[0].FileID != id || j[0].MtimeNs != before.MtimeNs {
				t.Errorf("result %+v entry id %v, want %v", r, j[0].FileID, id)
			}
		}},
		{"replaced by rename: new inode, same content: stat only", func(t *testing.T, e *env) {
			m := time.Unix(0, e.entry("f").MtimeNs)
			e.write("tmp", randomData(1, 9000))
			if err := os.Chtimes(e.abs("tmp"), m, m); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(e.abs("tmp"), e.abs("f")); err != nil {
				t.Fatal(err)
			}
		}, statOnly},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.write("f", randomData(1, 9000))
			if err := os.Chown(e.abs("f"), 0, 0); err != nil {
				t.Fatal(err)
			}
			e.scan()
			before := e.entry("f")
			n := e.store.journalLen()
			tick()
			c.change(t, e)
			r := e.scan()
			c.check(t, e, r, before, e.store.journalFrom(n))
		})
	}
}

// statOnly: the file was read, nothing was journaled, and the new
// fingerprint was recorded.
func statOnly(t *testing.T, e *env, r Result, before index.Entry, j []index.Entry) {
	t.Helper()
	if r.Hashed != 1 || r.Changed != 0 || len(j) != 0 {
		t.Fatalf("result %+v journaled %q: want one read and no entry", r, paths(j))
	}
	after := e.entry("f")
	st := e.lstat("f")
	if after.Seq != before.Seq || after.Stat.CtimeNs != st.Ctim.Nano() || after.Stat.Ino != st.Ino {
		t.Errorf("entry seq %d→%d stat %+v, want the new fingerprint only", before.Seq, after.Seq, after.Stat)
	}
	if r2 := e.scan(); r2.Hashed != 0 {
		t.Errorf("third scan read again: %+v", r2)
	}
}

func TestDirectoryMetadata(t *testing.T) {
	e := newEnv(t)
	e.write("d/f", "x")
	e.scan()
	n := e.store.journalLen()

	tick()
	if err := os.Chmod(e.abs("d"), 0o700); err != nil {
		t.Fatal(err)
	}
	r := e.scan()
	if got := paths(e.store.journalFrom(n)); !slices.Equal(got, []string{"d"}) || e.entry("d").Mode != 0o700 || r.Changed != 1 {
		t.Fatalf("after chmod: journaled %q, result %+v", got, r)
	}

	n = e.store.journalLen()
	m := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(e.abs("d"), m, m); err != nil {
		t.Fatal(err)
	}
	e.scan()
	if got := paths(e.store.journalFrom(n)); !slices.Equal(got, []string{"d"}) || e.entry("d").MtimeNs != m.UnixNano() {
		t.Fatalf("after mtime change: journaled %q", got)
	}

	// A new child changes the directory's mtime: the directory is
	// journaled before the child.
	n = e.store.journalLen()
	tick()
	e.write("d/g", "y")
	e.scan()
	if got := paths(e.store.journalFrom(n)); !slices.Equal(got, []string{"d", "d/g"}) {
		t.Fatalf("after new child: journaled %q", got)
	}
}

// The folder root's own metadata is journaled as index.RootPath, like any
// directory's, and follows its changes; it is never tombstoned or taken
// for a child.
func TestRootMetadata(t *testing.T) {
	e := newEnv(t)
	if err := os.Chmod(e.root, 0o750); err != nil {
		t.Fatal(err)
	}
	e.write("f", "x")
	e.scan()
	check := func(what string) index.Entry {
		t.Helper()
		got, ok := e.store.get(index.RootPath)
		st := e.lstat("")
		if !ok || got.Deleted || got.Kind != index.KindDir || got.Mode != st.Mode&0o7777 ||
			got.MtimeNs != st.Mtim.Nano() || got.UID != st.Uid || got.GID != st.Gid {
			t.Fatalf("%s: root entry %+v (found %v), want mode %#o mtime %d", what, got, ok, st.Mode&0o7777, st.Mtim.Nano())
		}
		return got
	}
	first := check("new tree")
	if n := e.store.rootsLen(); n != 1 {
		t.Fatalf("%d root entries after the first scan, want 1", n)
	}
	e.scan()
	if n := e.store.rootsLen(); n != 1 {
		t.Errorf("%d root entries after a scan of an unchanged tree, want 1", n)
	}
	tick()
	if err := os.Chmod(e.root, 0o711); err != nil {
		t.Fatal(err)
	}
	n := e.store.journalLen()
	if r := e.scan(index.RootPath); r.Walked != 0 || e.store.journalLen() != n {
		t.Errorf("a scan of the root's metadata walked %d paths and journaled %q", r.Walked, paths(e.store.journalFrom(n)))
	}
	if got := check("chmod"); got.Seq <= first.Seq {
		t.Errorf("root entry not journaled again after a chmod")
	}
	tick()
	e.remove("f")
	e.scan("f")
	check("a name removed at the top")
	for _, j := range e.store.journalFrom(0) {
		if j.Path == index.RootPath || j.Path == "" {
			t.Errorf("root journaled as %+v among the other paths", j)
		}
	}
	if live := e.store.live(); len(live) != 0 {
		t.Errorf("live entries %v, want none but the root", keysOf(live))
	}
}

func keysOf(m map[string]index.Entry) []string {
	return slices.Sorted(maps.Keys(m))
}
