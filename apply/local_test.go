package apply

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// fakeKeeper is the caller's index (stats recorded after each apply) and a
// store of kept versions, in memory.
type fakeKeeper struct {
	stats map[string]index.Stat
	kept  []keptVersion
	fail  error
	block chan struct{} // if set: Keep closes it, then waits for its ctx to end
}

type keptVersion struct {
	path    string
	kind    index.Kind
	data    string // file content or symlink target
	by      string // path of the entry that replaced it
	written bool
}

func newKeeper() *fakeKeeper { return &fakeKeeper{stats: map[string]index.Stat{}} }

func (k *fakeKeeper) LastWritten(p string) (index.Stat, bool) {
	st, ok := k.stats[p]
	return st, ok
}

func (k *fakeKeeper) Keep(ctx context.Context, v LocalVersion) error {
	if k.block != nil {
		close(k.block)
		<-ctx.Done() // until Apply's caller gives up
		return ctx.Err()
	}
	if k.fail != nil {
		return k.fail
	}
	kv := keptVersion{path: v.Path, kind: v.Kind, by: v.By.Path, written: v.LastWritten != (index.Stat{})}
	switch v.Kind {
	case index.KindFile:
		fd, err := unix.Openat(v.Dir, v.Name, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), v.Name)
		defer f.Close()
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(f); err != nil {
			return err
		}
		kv.data = buf.String()
	case index.KindSymlink:
		b := make([]byte, 4096)
		n, err := unix.Readlinkat(v.Dir, v.Name, b)
		if err != nil {
			return err
		}
		kv.data = string(b[:n])
	}
	k.kept = append(k.kept, kv)
	return nil
}

// apply reads what ncsync last wrote at each entry's path from the
// keeper's index, applies, and records the new stats, like a secondary
// does.
func (k *fakeKeeper) apply(t *testing.T, f *Folder, src ChunkSource, entries ...index.Entry) []Result {
	t.Helper()
	res, err := f.Apply(context.Background(), entries, src, k.known(entries))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for i, r := range res {
		switch {
		case r.Err != nil:
		case entries[i].Deleted:
			delete(k.stats, entries[i].Path)
		default:
			k.stats[entries[i].Path] = r.Stat
		}
	}
	return res
}

// known is what the keeper's index holds for entries.
func (k *fakeKeeper) known(entries []index.Entry) Known {
	kn := Known{LastWritten: make([]index.Stat, len(entries))}
	for i, e := range entries {
		kn.LastWritten[i] = k.stats[e.Path]
	}
	return kn
}

func (k *fakeKeeper) mustApply(t *testing.T, f *Folder, src ChunkSource, entries ...index.Entry) {
	t.Helper()
	for i, r := range k.apply(t, f, src, entries...) {
		if r.Err != nil {
			t.Fatalf("entry %q: %v", entries[i].Path, r.Err)
		}
	}
}

func (k *fakeKeeper) keptPaths() []string {
	var out []string
	for _, kv := range k.kept {
		out = append(out, kv.path+"="+kv.data)
	}
	slices.Sort(out)
	return out
}

func write(t *testing.T, p string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLocalChanges(t *testing.T) {
	v1, v2 := content(1, 3000), content(2, 2500)
	cases := []struct {
		name  string
		setup func(t *testing.T, k *fakeKeeper, f *Folder, src *memSource, root string) // after ncsync wrote d/ and d/a (v1)
		apply func(src *memSource) []index.Entry
		kept  []string // path=content kept, sorted
		check func(t *testing.T, root string)
	}{
		{
			name:  "unchanged file is replaced, nothing kept",
			apply: func(src *memSource) []index.Entry { return []index.Entry{fileEntry(t, src, "d/a", v2, 0o644)} },
			check: func(t *testing.T, root string) { same(t, filepath.Join(root, "d/a"), v2) },
		},
		{
			name: "same path twice in a batch: nothing kept",
			apply: func(src *memSource) []index.Entry {
				return []index.Entry{fileEntry(t, src, "d/a", v2, 0o644), fileEntry(t, src, "d/a", v1, 0o600)}
			},
			check: func(t *testing.T, root string) { same(t, filepath.Join(root, "d/a"), v1) },
		},
		{
			name: "local edit is kept, then replaced",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/a"), "local edit")
			},
			apply: func(src *memSource) []index.Entry { return []index.Entry{fileEntry(t, src, "d/a", v2, 0o644)} },
			kept:  []string{"d/a=local edit"},
			check: func(t *testing.T, root string) { same(t, filepath.Join(root, "d/a"), v2) },
		},
		{
			name: "local edit is kept, then deleted",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/a"), "local edit")
			},
			apply: func(*memSource) []index.Entry { return []index.Entry{tombstone("d/a", index.KindFile)} },
			kept:  []string{"d/a=local edit"},
			check: func(t *testing.T, root string) { gone(t, filepath.Join(root, "d/a")) },
		},
		{
			name: "local delete, then primary update: applied, nothing to keep",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				if err := os.Remove(filepath.Join(root, "d/a")); err != nil {
					t.Fatal(err)
				}
			},
			apply: func(src *memSource) []index.Entry { return []index.Entry{fileEntry(t, src, "d/a", v2, 0o644)} },
			check: func(t *testing.T, root string) { same(t, filepath.Join(root, "d/a"), v2) },
		},
		{
			name: "local new file where the primary creates one is kept",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/new"), "mine")
			},
			apply: func(src *memSource) []index.Entry { return []index.Entry{fileEntry(t, src, "d/new", v2, 0o644)} },
			kept:  []string{"d/new=mine"},
			check: func(t *testing.T, root string) { same(t, filepath.Join(root, "d/new"), v2) },
		},
		{
			name: "local new file equal to the primary's is not kept",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/new"), string(v2))
			},
			apply: func(src *memSource) []index.Entry { return []index.Entry{fileEntry(t, src, "d/new", v2, 0o644)} },
			check: func(t *testing.T, root string) { same(t, filepath.Join(root, "d/new"), v2) },
		},
		{
			name: "unrelated path leaves a local new file alone",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/mine"), "mine")
			},
			apply: func(src *memSource) []index.Entry {
				return []index.Entry{fileEntry(t, src, "d/a", v2, 0o644), tombstone("d/b", index.KindFile)}
			},
			check: func(t *testing.T, root string) { same(t, filepath.Join(root, "d/mine"), []byte("mine")) },
		},
		{
			name: "directory deleted: local files beneath it are kept, ncsync's are not",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/mine"), "mine")
				write(t, filepath.Join(root, "d/sub/deep"), "deep")
			},
			apply: func(*memSource) []index.Entry { return []index.Entry{tombstone("d", index.KindDir)} },
			kept:  []string{"d/mine=mine", "d/sub/deep=deep"},
			check: func(t *testing.T, root string) { gone(t, filepath.Join(root, "d")) },
		},
		{
			name: "directory deleted: a local edit of ncsync's file beneath it is kept",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/a"), "edited")
			},
			apply: func(*memSource) []index.Entry { return []index.Entry{tombstone("d", index.KindDir)} },
			kept:  []string{"d/a=edited"},
			check: func(t *testing.T, root string) { gone(t, filepath.Join(root, "d")) },
		},
		{
			name: "directory replaced by a file: local files beneath it are kept",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/mine"), "mine")
			},
			apply: func(src *memSource) []index.Entry {
				return []index.Entry{tombstone("d/a", index.KindFile), fileEntry(t, src, "d", v2, 0o644)}
			},
			kept:  []string{"d/mine=mine"},
			check: func(t *testing.T, root string) { same(t, filepath.Join(root, "d"), v2) },
		},
		{
			name: "file replaced by a directory after a local edit is kept",
			setup: func(t *testing.T, _ *fakeKeeper, _ *Folder, _ *memSource, root string) {
				write(t, filepath.Join(root, "d/a"), "edited")
			},
			apply: func(*memSource) []index.Entry { return []index.Entry{dirEntry("d/a", 0o755)} },
			kept:  []string{"d/a=edited"},
			check: func(t *testing.T, root string) {
				if st := lstat(t, filepath.Join(root, "d/a")); !isDir(&st) {
					t.Fatal("d/a is not a directory")
				}
			},
		},
		{
			name: "local symlink swap is kept",
			setup: func(t *testing.T, k *fakeKeeper, f *Folder, src *memSource, root string) {
				k.mustApply(t, f, src, symlinkEntry("d/l", "a"))
				if err := os.Remove(filepath.Join(root, "d/l")); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("elsewhere", filepath.Join(root, "d/l")); err != nil {
					t.Fatal(err)
				}
			},
			apply: func(*memSource) []index.Entry { return []index.Entry{symlinkEntry("d/l", "b")} },
			kept:  []string{"d/l=elsewhere"},
			check: func(t *testing.T, root string) {
				if got, _ := os.Readlink(filepath.Join(root, "d/l")); got != "b" {
					t.Fatalf("d/l -> %q, want b", got)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeeper()
			f, root := openTest(t, Options{Local: k}, false)
			src := newSource()
			k.mustApply(t, f, src, dirEntry("d", 0o755), fileEntry(t, src, "d/a", v1, 0o644))
			if tc.setup != nil {
				tc.setup(t, k, f, src, root)
			}
			k.mustApply(t, f, src, tc.apply(src)...)
			if got := k.keptPaths(); !slices.Equal(got, tc.kept) {
				t.Fatalf("kept %q, want %q", got, tc.kept)
			}
			tc.check(t, root)
			noTemps(t, root)
		})
	}
}

// editedLocally returns a folder with a keeper where ncsync wrote "a",
// since edited locally.
func editedLocally(t *testing.T) (*fakeKeeper, *Folder, string, *memSource) {
	t.Helper()
	k := newKeeper()
	f, root := openTest(t, Options{Local: k}, false)
	src := newSource()
	k.mustApply(t, f, src, fileEntry(t, src, "a", content(1, 100), 0o644))
	write(t, filepath.Join(root, "a"), "local edit")
	return k, f, root, src
}

func TestLocalKeepFails(t *testing.T) {
	k, f, root, src := editedLocally(t)
	write(t, filepath.Join(root, "d/mine"), "mine")
	k.fail = errors.New("store full")
	res := k.apply(t, f, src, fileEntry(t, src, "a", content(2, 100), 0o644), tombstone("d", index.KindDir))
	for i, r := range res {
		if !errors.Is(r.Err, ErrLocalChange) {
			t.Fatalf("entry %d: %v, want ErrLocalChange", i, r.Err)
		}
	}
	same(t, filepath.Join(root, "a"), []byte("local edit"))
	same(t, filepath.Join(root, "d/mine"), []byte("mine"))
	noTemps(t, root)

	// Once keeping works, the same entries go through.
	k.fail = nil
	k.mustApply(t, f, src, fileEntry(t, src, "a", content(2, 100), 0o644), tombstone("d", index.KindDir))
	if got := k.keptPaths(); !slices.Equal(got, []string{"a=local edit", "d/mine=mine"}) {
		t.Fatalf("kept %q", got)
	}
}

// TestLocalKeepCancelled: Keep runs on Apply's context, so a caller that
// gives up (a session that ends) stops a Keep in progress; the local
// version stays and the entry fails, to be retried.
func TestLocalKeepCancelled(t *testing.T) {
	k, f, root, src := editedLocally(t)
	k.block = make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	type applied struct {
		res []Result
		err error
	}
	done := make(chan applied, 1)
	e := fileEntry(t, src, "a", content(2, 100), 0o644)
	go func() {
		res, err := f.Apply(ctx, []index.Entry{e}, src, k.known([]index.Entry{e}))
		done <- applied{res, err}
	}()
	<-k.block
	cancel()
	select {
	case a := <-done:
		if !errors.Is(a.res[0].Err, ErrLocalChange) || !errors.Is(a.res[0].Err, context.Canceled) {
			t.Fatalf("entry: %v, want ErrLocalChange and context.Canceled", a.res[0].Err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Keep did not see Apply's context end")
	}
	same(t, filepath.Join(root, "a"), []byte("local edit"))
	noTemps(t, root)
}

func same(t *testing.T, p string, want []byte) {
	t.Helper()
	if got := readFile(t, p); !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, want %d", p, len(got), len(want))
	}
}

func gone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still there (%v)", p, err)
	}
}
