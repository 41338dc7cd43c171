package secondary

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/index"
)

// TestHealEquivalent: the tree's version of a path counts as the index's
// when it is that entry as apply writes it (setuid and setgid never set;
// any owner when ncsync does not set owners), and differs otherwise.
func TestHealEquivalent(t *testing.T) {
	e := index.Entry{Path: "a", Kind: index.KindFile, Mode: 0o6755, UID: 33, GID: 33, MtimeNs: 1e18, Size: 3}
	asWritten := e
	asWritten.Mode = 0o755
	for _, tc := range []struct {
		name  string
		chown bool
		d     func(index.Entry) index.Entry
		want  bool
	}{
		{"as written", true, func(d index.Entry) index.Entry { return d }, true},
		{"setid bits on disk", true, func(d index.Entry) index.Entry { d.Mode = 0o6755; return d }, false},
		{"chmod", true, func(d index.Entry) index.Entry { d.Mode = 0o700; return d }, false},
		{"chown", true, func(d index.Entry) index.Entry { d.UID = 0; return d }, false},
		{"chown, owners not set", false, func(d index.Entry) index.Entry { d.UID, d.GID = 0, 0; return d }, true},
		{"mtime", true, func(d index.Entry) index.Entry { d.MtimeNs++; return d }, false},
		{"size", true, func(d index.Entry) index.Entry { d.Size++; return d }, false},
		{"content", true, func(d index.Entry) index.Entry { d.FileID[0] = 1; return d }, false},
		{"kind", true, func(d index.Entry) index.Entry { d.Kind = index.KindDir; return d }, false},
		{"gone", true, func(d index.Entry) index.Entry { d.Deleted = true; return d }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &healer{s: &Secondary{opts: Options{Apply: apply.Options{Chown: tc.chown}}}}
			if got := h.equivalent(tc.d(asWritten), e); got != tc.want {
				t.Errorf("equivalent = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestInTree: a path is in a set when it or one of its parents is.
func TestInTree(t *testing.T) {
	set := map[string]bool{"a/b": true, "c": true}
	for p, want := range map[string]bool{"a/b": true, "a/b/c": true, "a": false, "a/bc": false, "c/d/e": true, "cd": false, "": false} {
		if got := inTree(set, p); got != want {
			t.Errorf("inTree(%q) = %v, want %v", p, got, want)
		}
	}
	if inTree(nil, "a") {
		t.Error("inTree(nil)")
	}
}

// TestHealRoot: the folder root's own entry (index.RootPath) is looked at
// and put back like any directory's; without one (a primary that does not
// replicate the root's metadata) the root is left alone, never taken for
// an object to remove.
func TestHealRoot(t *testing.T) {
	dir := t.TempDir()
	db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	root := filepath.Join(dir, "tree")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := New(db, Options{Node: "nfs2", PrimaryNode: "nfs1", Folders: []config.Folder{{ID: "data", Path: root}}})
	if err != nil {
		t.Fatal(err)
	}
	store := func(e index.Entry) {
		t.Helper()
		if err := db.Update("data", func(tx *index.Tx) error { return tx.Store(e) }); err != nil {
			t.Fatal(err)
		}
	}
	store(index.Entry{Path: "a", Seq: 1, Kind: index.KindDir, Mode: 0o755})
	h := &healer{s: s, f: s.folders["data"], id: "data", div: &divergence{db: db, folder: "data"}}
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootfd)
	var st unix.Stat_t
	if err := unix.Fstat(rootfd, &st); err != nil {
		t.Fatal(err)
	}
	check := func(what string, wantDiffers bool, wantPut int) {
		t.Helper()
		var differs bool
		if err := db.View("data", func(tx *index.Tx) error {
			differs = h.differs(tx, rootfd, nil, index.RootPath)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		h.div.reset()
		h.div.found[index.RootPath] = index.Entry{Path: index.RootPath, Kind: index.KindDir, Mode: st.Mode & 0o7777, MtimeNs: st.Mtim.Nano()}
		pl, err := h.plan(nil)
		if err != nil {
			t.Fatal(err)
		}
		if differs != wantDiffers || len(pl.remove) != 0 || len(pl.put) != wantPut {
			t.Errorf("%s: differs %v, plan removes %v and puts %v; want differs %v and %d put", what, differs, pl.remove, pl.put, wantDiffers, wantPut)
		}
	}
	check("no entry for the root", false, 0)
	store(index.Entry{Path: index.RootPath, Seq: 2, Kind: index.KindDir, Mode: 0o750, MtimeNs: st.Mtim.Nano(),
		Stat: index.Stat{Dev: st.Dev, Ino: st.Ino}})
	check("the root chmod'ed", true, 1)
}
