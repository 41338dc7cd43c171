package apply

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncsync/ncsync/index"
)

const priorCrashRootEnv = "NCSYNC_APPLY_PRIOR_CRASH_ROOT"

// priorVersions returns the versions of a large file the crash test
// cycles through: each one an edit of the one before it (in place, an
// insert at the front, an append, a truncation).
func priorVersions(t testing.TB, src *priorSource) ([]index.Entry, [][]byte) {
	data := [][]byte{content(1, 2<<20)}
	for _, ed := range edits {
		data = append(data, ed.edit(data[len(data)-1]))
	}
	es := make([]index.Entry, len(data))
	for i, d := range data {
		es[i] = fileEntry(t, src.memSource, "big", d, 0o644)
	}
	return es, data
}

// TestPriorCrashChild is the process TestPriorCrash kills: it applies the
// versions in a loop, each built from the one before, until killed.
func TestPriorCrashChild(t *testing.T) {
	root := os.Getenv(priorCrashRootEnv)
	if root == "" {
		t.Skip("helper process of TestPriorCrash")
	}
	f, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := newPriorSource()
	es, _ := priorVersions(t, src)
	os.Stdout.Write([]byte{'!'})
	for i := 0; ; i++ {
		if r := applyPrior(t, f, src, src.stat["big"], es[i%len(es)]); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// kill -9 while a large file is built from its previous version (cloned
// or copied by the kernel, then renamed over it): the file at its path is
// always one whole version, and applying again converges.
func TestPriorCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	src := newPriorSource()
	es, data := priorVersions(t, src)
	root := t.TempDir()
	placed := false // once a version is in place, one always is
	for round := range 12 {
		killChildAfter(t, round, "TestPriorCrashChild", priorCrashRootEnv+"="+root, time.Duration(20+rand.IntN(80))*time.Millisecond)
		b, err := os.ReadFile(filepath.Join(root, "big"))
		if os.IsNotExist(err) && !placed {
			continue // killed before the first version was placed
		}
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		placed = true
		whole := false
		for _, d := range data {
			whole = whole || bytes.Equal(b, d)
		}
		if !whole {
			t.Fatalf("round %d: big is torn (%d bytes)", round, len(b))
		}
	}
	f, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if placed {
		st, _, err := f.Stat("big")
		if err != nil {
			t.Fatal(err)
		}
		src.stat["big"] = st
	}
	src.prev["big"] = es[0] // offsets of a version the file need not be: nothing is trusted
	if r := applyPrior(t, f, src, index.Stat{}, es[1]); r.Err != nil {
		t.Fatal(r.Err)
	}
	if !bytes.Equal(readFile(t, filepath.Join(root, "big")), data[1]) {
		t.Fatal("big did not converge")
	}
	if _, err := f.SweepKept(); err != nil {
		t.Fatal(err)
	}
	noTemps(t, root)
}
