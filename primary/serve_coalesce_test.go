package primary

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/transport"
)

// A batch that is not full waits while two batches are in flight, and
// leaves after the next ack with every entry journaled meanwhile: a burst
// of writes reaches a busy peer in few batches, not one per scan.
func TestServeHoldsPartBatches(t *testing.T) {
	p, root := newTestPrimary(t, map[string]string{"a.txt": "a"}, "nfs2")
	p.opts.Window = 4
	sp := serveTestPeer(t, p)
	defer sp.stop()
	write := func(names ...string) {
		t.Helper()
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(root, n), []byte(n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer fcancel()
		if err := p.Flush(fctx); err != nil {
			t.Fatal(err)
		}
	}
	first := sp.next(t) // nothing in flight: at once
	write("b.txt")
	second := sp.next(t) // one in flight: at once
	write("c.txt")
	write("d.txt")
	select {
	case b := <-sp.sent:
		t.Fatalf("a part batch (%d entries from seq %d) was sent with two in flight", len(b.Entries), b.Entries[0].Seq)
	case <-time.After(100 * time.Millisecond):
	}
	sp.acks <- transport.Ack{Folder: "data", Seq: first.Entries[len(first.Entries)-1].Seq}
	third := sp.next(t)
	var got []string
	for _, e := range third.Entries {
		if e.Kind == index.KindFile {
			got = append(got, e.Path)
		}
	}
	if len(got) != 2 || got[0] != "c.txt" || got[1] != "d.txt" {
		t.Errorf("after the ack, the batch holds %v, want [c.txt d.txt]", got)
	}
	if third.Entries[0].Seq <= second.Entries[len(second.Entries)-1].Seq {
		t.Errorf("third batch starts at %d, not after %d", third.Entries[0].Seq, second.Entries[len(second.Entries)-1].Seq)
	}
}
