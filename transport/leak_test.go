package transport

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// TestNoGoroutineLeak runs a session and a chunk fetch, shuts both ends
// down and checks that every goroutine ended.
func TestNoGoroutineLeak(t *testing.T) {
	p := cluster(t)
	before := runtime.NumGoroutine()
	func() {
		src := newFakeSource()
		src.batches = []Message{Batch{Folder: "f", Entries: []index.Entry{fileEntry("a", 1, 2, 3)}}}
		id := src.add(textChunk(1, 100<<10))
		srv, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
		c, err := Dial(context.Background(), addr, p.clientTLS(t, "s1"), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		sess, _, err := c.Sync(context.Background(), Hello{ClusterID: p.cluster, Node: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Recv(); err != nil {
			t.Fatal(err)
		}
		if err := sess.Ack(Ack{Folder: "f", Seq: 1}); err != nil {
			t.Fatal(err)
		}
		cs, err := c.FetchChunks(context.Background(), "f", []chunker.ID{id, id, id})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.Next(); err != nil { // abandon the rest
			t.Fatal(err)
		}
		cs.Close()
		within(t, 10*time.Second, "Stop", srv.Stop)
		_ = sess.Close()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
