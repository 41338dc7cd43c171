package secondary_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestPriorEditPatched: a large file edited on the primary (bytes changed
// in the middle, bytes inserted at the front) is fetched as patches
// against the bytes of the chunks the edit replaced, which this node's
// version holds; a patch that does not build its chunk is not taken: the
// chunk is fetched whole and the file is still the primary's.
func TestPriorEditPatched(t *testing.T) {
	env := newCraftedEnv(t, craftedEnvOptions{})
	p := env.primary
	p.mu.Lock()
	p.patches = true
	p.mu.Unlock()
	env.nextHello(t)
	v1 := craftedData(1, 8<<20)
	v2 := bytes.Clone(v1)
	copy(v2[4<<20:], craftedData(2, 4096))
	v3 := append(craftedData(3, 100), v2...)
	v4 := bytes.Clone(v3)
	copy(v4[1<<20:], craftedData(4, 4096))
	for seq, data := range [][]byte{v1, v2, v3, v4} {
		var wrong chunker.ID
		if seq == 3 { // every patch of v4 builds other bytes
			p.mu.Lock()
			p.patchFor = func(id chunker.ID, d []byte) []byte {
				wrong = id
				d = bytes.Clone(d)
				d[len(d)-1] ^= 1
				return d
			}
			p.mu.Unlock()
		}
		p.mu.Lock()
		based0, wire0 := p.based, p.wire
		p.mu.Unlock()
		f := newCraftedFile(t, "big", uint64(seq+1), data, 0o644, false)
		f.register(p)
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: uint64(seq + 1), Entries: []*ncsyncv1.Entry{f.entry}})
		if a := env.nextAck(t); a.GetSequence() != uint64(seq+1) || len(a.GetFailures()) != 0 {
			t.Fatalf("version %d: ack %d, failures %v", seq+1, a.GetSequence(), a.GetFailures())
		}
		got, err := os.ReadFile(filepath.Join(env.root, "big"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("version %d: %d bytes, %v; want the primary's %d", seq+1, len(got), err, len(data))
		}
		p.mu.Lock()
		based, wire := p.based-based0, p.wire-wire0
		p.mu.Unlock()
		st, err := env.sec.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if f := st.Folders[0]; seq > 0 && (f.ChunksPatched == 0 || (f.ChunkPatchesRefused != 0) != (seq == 3)) {
			t.Errorf("version %d: status counts %d chunks patched, %d patches refused", seq+1, f.ChunksPatched, f.ChunkPatchesRefused)
		}
		switch {
		case seq == 1 || seq == 2:
			// One or a few chunks replaced: small patches, not chunks.
			if based == 0 || wire > 32<<10 {
				t.Errorf("version %d: %d chunks offered a base, %d chunk bytes sent; want some, and patches of a few KiB", seq+1, based, wire)
			}
		case seq == 3:
			p.mu.Lock()
			w := wrong
			p.mu.Unlock()
			if based == 0 || w == (chunker.ID{}) || p.servedCount(w) < 2 {
				t.Errorf("version %d: %d chunks offered a base, chunk %s served %d times; want the wrongly patched one fetched again whole", seq+1, based, w, p.servedCount(w))
			}
		}
	}
}
