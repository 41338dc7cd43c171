package secondary_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestPriorEdit: a large file edited on the primary (bytes changed in the
// middle, then bytes inserted at the front) is built from the version this
// node wrote: only the changed chunks are fetched, the rest is reused, and
// the result is the primary's file. A version changed on this node since
// ncsync wrote it is kept in the conflict store and not built upon.
func TestPriorEdit(t *testing.T) {
	env := newCraftedEnv(t, craftedEnvOptions{Conflicts: true})
	env.nextHello(t)
	v1 := craftedData(1, 8<<20)
	v2 := bytes.Clone(v1)
	copy(v2[4<<20:], craftedData(2, 4096))
	v3 := append(craftedData(3, 100), v2...)
	v4 := append(bytes.Clone(v3), craftedData(4, 4096)...)
	var fetched uint64
	for seq, data := range [][]byte{v1, v2, v3, v4} {
		if seq == 3 { // a local edit on this node, same size
			fh, err := os.OpenFile(filepath.Join(env.root, "big"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteAt([]byte("changed here"), 2<<20); err != nil {
				t.Fatal(err)
			}
			fh.Close()
		}
		f := newCraftedFile(t, "big", uint64(seq+1), data, 0o644, false)
		f.register(env.primary)
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: uint64(seq + 1), Entries: []*ncsyncv1.Entry{f.entry}})
		if a := env.nextAck(t); a.GetSequence() != uint64(seq+1) || len(a.GetFailures()) != 0 {
			t.Fatalf("version %d: ack %d, failures %v", seq+1, a.GetSequence(), a.GetFailures())
		}
		got, err := os.ReadFile(filepath.Join(env.root, "big"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("version %d: %d bytes, %v; want the primary's %d", seq+1, len(got), err, len(data))
		}
		st, err := env.sec.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f0 := st.Folders[0]
		if seq > 0 && (f0.ChunkBytesFetched-fetched > 1<<20 || f0.ChunkBytesReused < uint64(seq)*7<<20) {
			t.Errorf("version %d: fetched %d more chunk bytes, reused %d in all", seq+1, f0.ChunkBytesFetched-fetched, f0.ChunkBytesReused)
		}
		fetched = f0.ChunkBytesFetched
	}
	kept, err := env.sec.Conflicts(context.Background())
	if err != nil || len(kept) != 1 || kept[0].Path != "big" {
		t.Fatalf("conflict store %+v, %v: want the local version of big", kept, err)
	}
}
