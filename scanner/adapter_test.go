package scanner

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncsync/ncsync/index"
)

// TestWithIndexDB runs a scenario against the real index and the fake and
// expects the same entries: the fake's semantics are the index's, and the
// walker's reads alongside the committer's writes do not deadlock bbolt.
func TestWithIndexDB(t *testing.T) {
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	fake := newEnv(t, func(o *Options) { o.BatchSize = 50 })
	real := newEnv(t, func(o *Options) { o.BatchSize = 50 })
	real.s.store = IndexStore(db, "data")
	for _, e := range []*env{fake, real} {
		for d := range 10 {
			for f := range 60 {
				e.write(fmt.Sprintf("d%d/sub/f%02d", d, f), randomData(uint64(d*100+f), 500+f*40))
			}
		}
		e.symlink("d0", "link")
		e.scan()
		tick()
		e.remove("d3")
		e.remove("d4/sub")
		e.write("d4/sub", "now a file")
		if err := os.Chmod(e.abs("d5/sub/f07"), 0o640); err != nil {
			t.Fatal(err)
		}
		e.write("d6/sub/f01", "rewritten")
		if r := e.scan(); r.Errors != 0 {
			t.Fatalf("scan %+v", r)
		}
	}

	type row struct {
		path    string
		kind    index.Kind
		deleted bool
		mode    uint32
		size    int64
		target  string
		id      string
	}
	var got, want []row
	err = db.Walk("data", "", func(e index.Entry) error {
		got = append(got, row{e.Path, e.Kind, e.Deleted, e.Mode, e.Size, e.Target, e.FileID.String()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0)
	all := map[string]index.Entry{}
	fake.store.mu.RLock()
	for k, e := range fake.store.entries {
		keys = append(keys, k)
		all[k] = e
	}
	fake.store.mu.RUnlock()
	slices.Sort(keys)
	for _, k := range keys {
		e := all[k]
		want = append(want, row{e.Path, e.Kind, e.Deleted, e.Mode, e.Size, e.Target, e.FileID.String()})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("index holds %d entries, fake %d; first difference at %v", len(got), len(want), firstDiff(got, want))
	}
	if en, _, _ := db.Get("data", "d5/sub/f07"); en.Mode != 0o640 {
		t.Errorf("chmod not in the index: %o", en.Mode)
	}
}

func firstDiff[T comparable](a, b []T) any {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return [2]T{a[i], b[i]}
		}
	}
	return "length"
}
