package primary

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/transport"
)

// fakeBarrierNode is a primary as a barrier sees it, driven by the test.
type fakeBarrierNode struct {
	mu     sync.Mutex
	peers  map[string]peerProgress
	hashes map[string]treeHash // peer → its tree hash of every folder
	block  bool                // flush blocks until ctx ends
}

func newFakeBarrierNode() *fakeBarrierNode {
	return &fakeBarrierNode{peers: make(map[string]peerProgress), hashes: make(map[string]treeHash)}
}

func (f *fakeBarrierNode) flush(ctx context.Context) error {
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeBarrierNode) peer(name string) peerProgress {
	f.mu.Lock()
	defer f.mu.Unlock()
	pp := f.peers[name]
	pp.acked = maps.Clone(pp.acked)
	return pp
}

func (f *fakeBarrierNode) peerTreeHash(_ context.Context, name, _ string, _ uint64) (treeHash, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	th, ok := f.hashes[name]
	if !ok {
		return treeHash{}, errPeerNotConnected
	}
	return th, nil
}

// set records that name is connected (or not) and has acknowledged seq
// in folder "data".
func (f *fakeBarrierNode) set(name string, connected bool, seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers[name] = peerProgress{connected: connected, acked: map[string]uint64{"data": seq}}
}

// openTestDB opens an index in a temporary directory.
func openTestDB(t *testing.T) *index.DB {
	t.Helper()
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetMeta(index.Meta{ClusterID: "c1", Node: "nfs1", Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	return db
}

// journal journals a 100-byte file at each path in folder "data" and
// returns the head.
func journal(t *testing.T, db *index.DB, paths ...string) uint64 {
	t.Helper()
	var head uint64
	err := db.Update("data", func(tx *index.Tx) error {
		for _, p := range paths {
			e, err := tx.Journal(index.Entry{Path: p, Kind: index.KindFile, Mode: 0o644, Size: 100})
			if err != nil {
				return err
			}
			head = e.Seq
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// barrierRun is a barrier running in a goroutine.
type barrierRun struct {
	done chan struct{} // closed when it returned
	res  report.BarrierProgress
	err  error
}

// wait waits for the barrier's outcome.
func (r *barrierRun) wait() (report.BarrierProgress, error) {
	<-r.done
	return r.res, r.err
}

// startBarrier runs a barrier over node and db in a goroutine.
func startBarrier(t *testing.T, db *index.DB, node barrierNode, peers []string, timeout time.Duration, progress func(report.BarrierProgress)) *barrierRun {
	t.Helper()
	if progress == nil {
		progress = func(report.BarrierProgress) {}
	}
	b := &barrier{db: db, node: node, ids: []string{"data"}, names: peers, progress: progress}
	r := &barrierRun{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = b.run(context.Background(), timeout)
	}()
	return r
}

func TestBarrierFastPath(t *testing.T) {
	db := openTestDB(t)
	head := journal(t, db, "a", "b", "c")
	node := newFakeBarrierNode()
	node.set("nfs2", true, head)
	node.set("nfs3", true, head)
	calls := 0
	b := &barrier{db: db, node: node, ids: []string{"data"}, names: []string{"nfs2", "nfs3"},
		progress: func(report.BarrierProgress) { calls++ }}
	start := time.Now()
	res, err := b.run(context.Background(), time.Minute)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("idle barrier took %s: %s", took, res.Message)
	if !res.Done || !res.Reached {
		t.Fatalf("not reached: %+v", res)
	}
	if calls != 0 {
		t.Errorf("progress reported %d times on the fast path", calls)
	}
	if len(res.Target) != 1 || res.Target[0] != (report.Position{Folder: "data", Seq: head}) {
		t.Errorf("target %v, want data@%d", res.Target, head)
	}
	if took > time.Second {
		t.Errorf("an idle barrier took %s", took)
	}
}

func TestBarrierWaitsForAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTestDB(t)
		journal(t, db, "a")
		node := newFakeBarrierNode()
		node.set("nfs2", true, 1)
		head := journal(t, db, "b", "c")
		var mu sync.Mutex
		var reports []report.BarrierProgress
		run := startBarrier(t, db, node, []string{"nfs2"}, time.Minute, func(p report.BarrierProgress) {
			mu.Lock()
			reports = append(reports, p)
			mu.Unlock()
		})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		mu.Lock()
		if len(reports) == 0 {
			t.Fatal("no progress while waiting")
		}
		last := reports[len(reports)-1]
		mu.Unlock()
		pf := last.Peers[0].Folders[0]
		if last.Done || last.Peers[0].Reached || pf.AckedSeq != 1 || pf.LagEntries != 2 || pf.LagBytes != 200 {
			t.Fatalf("progress %+v, want nfs2 at 1 with 2 entries (200 B) left", last)
		}
		node.set("nfs2", true, head)
		res, err := run.wait()
		if err != nil || !res.Reached {
			t.Fatalf("got %+v, %v; want reached", res, err)
		}
	})
}

// TestBarrierSupersededPath: a path that changes again after the target
// was taken holds a peer back until the peer has its newer version, even
// when the peer has acknowledged the target: the journal no longer holds
// the version the peer lacked.
func TestBarrierSupersededPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTestDB(t)
		journal(t, db, "a")
		node := newFakeBarrierNode()
		node.set("nfs2", true, 1)
		target := journal(t, db, "b", "c") // b@2, c@3
		run := startBarrier(t, db, node, []string{"nfs2"}, time.Minute, nil)
		synctest.Wait()
		newer := journal(t, db, "b") // b@4: the version at the target is gone from the journal
		unrelated := journal(t, db, "d")
		node.set("nfs2", true, target) // the peer got c@3 but not b
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		select {
		case <-run.done:
			t.Fatal("barrier reached while the peer lacks b")
		default:
		}
		node.set("nfs2", true, newer) // b@4 applied; d@5 is newer than the target and not needed
		res, err := run.wait()
		if err != nil || !res.Reached {
			t.Fatalf("got %+v, %v; want reached", res, err)
		}
		if res.Target[0].Seq != target || unrelated <= newer {
			t.Fatalf("target %v, want data@%d", res.Target, target)
		}
	})
}

func TestBarrierTimeoutNamesLaggard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTestDB(t)
		head := journal(t, db, "a", "b", "c")
		node := newFakeBarrierNode()
		node.set("nfs2", true, head)
		node.set("nfs3", false, 1)
		start := time.Now()
		res, err := startBarrier(t, db, node, []string{"nfs2", "nfs3"}, 30*time.Second, nil).wait()
		if err != nil {
			t.Fatal(err)
		}
		t.Log(res.Message)
		if took := time.Since(start); took != 30*time.Second {
			t.Errorf("timed out after %s, want 30s", took)
		}
		if !res.Done || res.Reached {
			t.Fatalf("got done=%v reached=%v, want a timeout", res.Done, res.Reached)
		}
		for _, want := range []string{"within 30s", "nfs3", "disconnected", "at 1 of 3", "2 entries (200 B) left"} {
			if !strings.Contains(res.Message, want) {
				t.Errorf("message %q does not contain %q", res.Message, want)
			}
		}
		if strings.Contains(res.Message, "nfs2") {
			t.Errorf("message %q names nfs2, which reached the target", res.Message)
		}
		if !res.Peers[0].Reached || res.Peers[1].Reached {
			t.Errorf("peers %+v: want nfs2 reached, nfs3 not", res.Peers)
		}
	})
}

// TestBarrierNamesPausedPeer: a paused peer holds a barrier back; the
// laggard list says so, with the pause and how to end it.
func TestBarrierNamesPausedPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTestDB(t)
		head := journal(t, db, "a", "b", "c")
		node := newFakeBarrierNode()
		since := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
		node.peers["nfs2"] = peerProgress{connected: true, acked: map[string]uint64{"data": 1},
			paused: describeHold(index.Pause{ID: "p7", Peer: "nfs2", Since: since, Expires: since.Add(2 * time.Hour),
				Hold: map[string]uint64{"data": 1, "web": 4}})}
		res, err := startBarrier(t, db, node, []string{"nfs2"}, time.Minute, nil).wait()
		if err != nil {
			t.Fatal(err)
		}
		if res.Reached || head != 3 {
			t.Fatalf("reached %v (head %d), want a timeout", res.Reached, head)
		}
		for _, want := range []string{"nfs2 (paused (pause p7 since 2026-11-22 10:00:00, held at data@1, web@4, until `ncsync resume --peer nfs2` or 2026-11-22 12:00:00))",
			"folder data at 1 of 3"} {
			if !strings.Contains(res.Message, want) {
				t.Errorf("message %q does not contain %q", res.Message, want)
			}
		}
	})
}

func TestBarrierFlushTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTestDB(t)
		node := newFakeBarrierNode()
		node.block = true
		res, err := startBarrier(t, db, node, []string{"nfs2"}, 5*time.Second, nil).wait()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Done || res.Reached || !strings.Contains(res.Message, "journaling") {
			t.Fatalf("got %+v, want a timeout while journaling", res)
		}
		if len(res.Peers) != 1 || res.Peers[0].Reached {
			t.Fatalf("peers %+v: want nfs2 not reached", res.Peers)
		}
	})
}

func TestBarrierConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openTestDB(t)
		head := journal(t, db, "a", "b")
		node := newFakeBarrierNode()
		node.set("nfs2", true, head)
		node.set("nfs3", false, 0)
		first := startBarrier(t, db, node, []string{"nfs2", "nfs3"}, time.Hour, nil)
		synctest.Wait()
		res, err := startBarrier(t, db, node, []string{"nfs2"}, time.Minute, nil).wait()
		if err != nil || !res.Reached {
			t.Fatalf("second barrier: %+v, %v", res, err)
		}
		node.set("nfs3", true, head)
		if res, err := first.wait(); err != nil || !res.Reached {
			t.Fatalf("first barrier: %+v, %v", res, err)
		}
	})
}

func TestBarrierVerify(t *testing.T) {
	db := openTestDB(t)
	head := journal(t, db, "a", "b")
	hash, entries, _, err := db.TreeHash("data")
	if err != nil {
		t.Fatal(err)
	}
	other := hash
	other[0] ^= 1
	tests := []struct {
		name    string
		peer    treeHash
		missing bool
		want    string // "" means verified
	}{
		{name: "equal", peer: treeHash{hash: hash, entries: entries, seq: head}},
		{name: "differs", peer: treeHash{hash: other, entries: entries, seq: head}, want: "differs"},
		{name: "other point", peer: treeHash{hash: hash, entries: entries, seq: head + 1}, want: "not at the barrier point"},
		{name: "disconnected", missing: true, want: "not connected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node := newFakeBarrierNode()
			node.set("nfs2", true, head)
			if !tc.missing {
				node.hashes["nfs2"] = tc.peer
			}
			b := &barrier{db: db, node: node, ids: []string{"data"}, names: []string{"nfs2"}, verify: true,
				progress: func(report.BarrierProgress) {}}
			res, err := b.run(context.Background(), time.Minute)
			if tc.want == "" {
				if err != nil || !strings.Contains(res.Message, "verified") {
					t.Fatalf("got %q, %v; want verified", res.Message, err)
				}
				return
			}
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nfs2") {
				t.Fatalf("got %v, want ErrVerify naming nfs2 and %q", err, tc.want)
			}
		})
	}
	t.Run("primary moved on", func(t *testing.T) {
		node := newFakeBarrierNode()
		node.hashes["nfs2"] = treeHash{hash: hash, entries: entries, seq: head}
		b := &barrier{db: db, node: node, names: []string{"nfs2"}, folders: []*barrierFolder{{id: "data", target: head}}}
		journal(t, db, "c")
		if err := b.verifyTrees(context.Background()); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "changed after the barrier point") {
			t.Fatalf("got %v, want ErrVerify: changed after the barrier point", err)
		}
	})
}

// newTestPrimary runs a primary over a temporary folder "data" with the
// given files, until the test ends.
func newTestPrimary(t *testing.T, files map[string]string, secondaries ...string) (*Primary, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := openTestDB(t)
	p, err := New(db, Options{Node: "nfs1", ClusterID: "c1", Secondaries: secondaries,
		Folders: []config.Folder{{ID: "data", Path: root}}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	fctx, fcancel := context.WithTimeout(ctx, 20*time.Second)
	defer fcancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	return p, root
}

// TestPrimaryBarrier runs barriers against a real primary (watcher,
// scanner, index) with a simulated secondary: an idle one answers at once;
// a file written before the barrier is part of its target, and the barrier
// waits for the peer to acknowledge it.
func TestPrimaryBarrier(t *testing.T) {
	p, root := newTestPrimary(t, map[string]string{"a.txt": "a", "b.txt": "b"}, "nfs2")
	head, err := p.db.Head("data")
	if err != nil || head == 0 {
		t.Fatalf("head %d, %v", head, err)
	}
	ps := p.peer("nfs2")
	ps.connect("127.0.0.1:1")
	ps.setAcked("data", head)
	ctx := context.Background()

	start := time.Now()
	res, err := p.Barrier(ctx, control.BarrierRequest{}, nil)
	took := time.Since(start)
	if err != nil || !res.Reached {
		t.Fatalf("idle barrier: %+v, %v", res, err)
	}
	t.Logf("idle barrier against a real primary took %s", took)
	if took > 2*time.Second {
		t.Errorf("idle barrier took %s", took)
	}

	if err := os.WriteFile(filepath.Join(root, "c.txt"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		res report.BarrierProgress
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := p.Barrier(ctx, control.BarrierRequest{Timeout: 20 * time.Second}, nil)
		done <- outcome{res, err}
	}()
	var e index.Entry
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		if e, ok, err = p.db.Get("data", "c.txt"); err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("c.txt was not journaled by the barrier's flush")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case o := <-done:
		t.Fatalf("barrier returned before the peer acknowledged c.txt: %+v, %v", o.res, o.err)
	case <-time.After(100 * time.Millisecond):
	}
	ps.ack(transport.Ack{Folder: "data", Seq: e.Seq})
	o := <-done
	if o.err != nil || !o.res.Reached {
		t.Fatalf("barrier: %+v, %v", o.res, o.err)
	}
	if o.res.Target[0].Seq < e.Seq {
		t.Errorf("target %v does not include c.txt at %d", o.res.Target, e.Seq)
	}
}

func TestPrimaryBarrierUnknownPeer(t *testing.T) {
	p, _ := newTestPrimary(t, nil, "nfs2", "nfs3")
	_, err := p.Barrier(context.Background(), control.BarrierRequest{Peers: []string{"nfs2", "nfs9"}}, nil)
	if !errors.Is(err, ErrUnknownPeer) || !strings.Contains(err.Error(), "nfs9") || !strings.Contains(err.Error(), "nfs3") {
		t.Fatalf("got %v, want ErrUnknownPeer naming nfs9 and the configured secondaries", err)
	}
}

// BenchmarkBarrierIdle measures a barrier against a real, idle primary
// whose secondary has acknowledged everything, over trees of several sizes,
// next to its baseline, the watcher flush alone (most of the cost).
func BenchmarkBarrierIdle(b *testing.B) {
	for _, n := range []int{0, 20_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			root := filepath.Join(b.TempDir(), "data")
			for i := range n {
				dir := filepath.Join(root, fmt.Sprintf("d%03d", i%200))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), []byte("x"), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			if err := os.MkdirAll(root, 0o755); err != nil {
				b.Fatal(err)
			}
			db, err := index.Open(filepath.Join(b.TempDir(), "index.db"), index.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if err := db.SetMeta(index.Meta{ClusterID: "c1", Node: "nfs1", Epoch: 1}); err != nil {
				b.Fatal(err)
			}
			p, err := New(db, Options{Node: "nfs1", ClusterID: "c1", Secondaries: []string{"nfs2"},
				Folders: []config.Folder{{ID: "data", Path: root}}, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				p.Run(ctx)
			}()
			defer func() {
				cancel()
				<-done
			}()
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			head, _ := db.Head("data")
			p.peer("nfs2").setAcked("data", head)
			// The baseline: the watcher flush alone, which every barrier
			// starts with.
			b.Run("flush", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := p.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("barrier", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if res, err := p.Barrier(ctx, control.BarrierRequest{}, nil); err != nil || !res.Reached {
						b.Fatalf("%+v, %v", res, err)
					}
				}
			})
		})
	}
}
