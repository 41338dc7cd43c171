package apply

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/index"
)

// TestApplyGroupsOverlap applies one batch long enough that groups are
// committed in the background while later files are written, with entries
// that touch the paths of a group still committing: the batch's outcome
// must be the one of applying the entries in order, with failed files
// (bad data) reported and nothing else lost.
func TestApplyGroupsOverlap(t *testing.T) {
	for _, mode := range []SyncMode{SyncAuto, SyncFile, SyncFS} {
		t.Run(mode.String(), func(t *testing.T) {
			f, root := openTest(t, Options{Sync: mode}, false)
			src := newSource()
			// Before the batch: a directory that a file will replace.
			mustApply(t, f, src, nil, fileEntry(t, src, "was-dir/x", content(1, 10), 0o644))

			var entries []index.Entry
			want := map[string][]byte{}
			bad := map[string]bool{}
			var gone []string // deleted with d1 (which later files create again)
			add := func(p string, data []byte) {
				e := fileEntry(t, src, p, data, 0o644)
				entries = append(entries, e)
				want[p] = data
			}
			for i := range maxPending*3 + 11 {
				p := fmt.Sprintf("d%d/f%d", i%7, i)
				add(p, content(byte(i), 50+i%300))
				switch i {
				case 10, maxPending + 3: // bad data: refused, the rest goes on
					e := &entries[len(entries)-1]
					src.chunks[e.FileID][0][0] ^= 1
					bad[p] = true
					delete(want, p)
				case maxPending + 5: // rewrite a file of the group being committed
					add("d0/f0", content(200, 77))
				case maxPending + 9: // delete a directory holding committing files
					entries = append(entries, tombstone("d1", index.KindDir))
					for k := range want {
						if filepath.Dir(k) == "d1" {
							delete(want, k)
							gone = append(gone, k)
						}
					}
				case 2*maxPending + 1: // a file where a directory was
					add("was-dir", content(201, 33))
				case 2*maxPending + 2: // and a directory where a committing file is
					entries = append(entries, dirEntry("d2/f2", 0o755))
					delete(want, "d2/f2")
				}
			}
			res, err := f.Apply(t.Context(), entries, src, Known{})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				p := entries[i].Path
				switch {
				case bad[p] && !errors.Is(r.Err, ErrDataMismatch):
					t.Errorf("%s: %v, want a data mismatch", p, r.Err)
				case !bad[p] && r.Err != nil:
					t.Errorf("%s: %v", p, r.Err)
				}
			}
			for p, data := range want {
				if got := readFile(t, filepath.Join(root, p)); !bytes.Equal(got, data) {
					t.Errorf("%s differs", p)
				}
			}
			for p := range bad {
				if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("refused %s: %v", p, err)
				}
			}
			for _, p := range gone {
				if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s, deleted with d1: %v", p, err)
				}
			}
			if st := lstat(t, filepath.Join(root, "d2/f2")); st.Mode&0o170000 != 0o040000 {
				t.Errorf("d2/f2 is not a directory: mode %#o", st.Mode)
			}
			noTemps(t, root)
		})
	}
}
