package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/pki"
)

// testPKI is a cluster CA in a temporary directory.
type testPKI struct {
	dir, cluster string
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	cluster, err := pki.InitCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{dir: dir, cluster: cluster}
}

func (p *testPKI) issue(t testing.TB, node string, role pki.Role) {
	t.Helper()
	if err := pki.Issue(p.dir, node, role); err != nil {
		t.Fatal(err)
	}
}

func (p *testPKI) files(node string) (ca, cert, key string) {
	return filepath.Join(p.dir, "ca.pem"), filepath.Join(p.dir, node+".pem"), filepath.Join(p.dir, node+".key")
}

func (p *testPKI) serverTLS(t testing.TB, node string) *tls.Config {
	t.Helper()
	conf, _, err := pki.ServerTLS(p.files(node))
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func (p *testPKI) clientTLS(t testing.TB, node string) *tls.Config {
	t.Helper()
	conf, _, err := pki.ClientTLS(p.files(node))
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// cluster is the usual test setup: primary p1, secondary s1.
func cluster(t testing.TB) *testPKI {
	p := newPKI(t)
	p.issue(t, "p1", pki.RolePrimary)
	p.issue(t, "s1", pki.RoleSecondary)
	return p
}

// testLog writes server logs to the test log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// startServer serves src on a loopback port until the test ends.
func startServer(t testing.TB, conf *tls.Config, lim Limits, src Source) (*Server, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var log *slog.Logger
	if _, ok := t.(*testing.T); ok {
		log = testLog(t)
	}
	srv := NewServer(conf, lim, src, log)
	srv.fixedCodec = true // tests check how chunks are encoded
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, lis.Addr().String()
}

func dial(t testing.TB, addr string, conf *tls.Config, lim Limits) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr, conf, lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// fakeSource is an in-memory Source. Serve sends batches, then passes acks
// to gotReplies until the session ends.
type fakeSource struct {
	admit   func(Peer) error // nil: everyone
	welcome func(Peer, Hello) (Welcome, error)
	batches []Message
	chunks  map[chunker.ID][]byte
	tree    chunker.ID

	mu         sync.Mutex
	peers      []Peer
	hellos     []Hello
	sendErrs   []error
	gotReplies chan Reply
	served     chan error // Serve's result, if not nil
}

func newFakeSource() *fakeSource {
	return &fakeSource{chunks: map[chunker.ID][]byte{}, gotReplies: make(chan Reply, 100)}
}

func (f *fakeSource) Admit(peer Peer) error {
	if f.admit != nil {
		return f.admit(peer)
	}
	return nil
}

func (f *fakeSource) Welcome(ctx context.Context, peer Peer, h Hello) (Welcome, error) {
	f.mu.Lock()
	f.peers = append(f.peers, peer)
	f.hellos = append(f.hellos, h)
	f.mu.Unlock()
	if f.welcome != nil {
		return f.welcome(peer, h)
	}
	return Welcome{ClusterID: h.ClusterID, Node: "p1", Epoch: h.Epoch}, nil
}

func (f *fakeSource) Serve(ctx context.Context, peer Peer, h Hello, send func(Message) error, replies <-chan Reply) error {
	err := f.serve(ctx, send, replies)
	if f.served != nil {
		f.served <- err
	}
	return err
}

func (f *fakeSource) serve(ctx context.Context, send func(Message) error, replies <-chan Reply) error {
	for _, b := range f.batches {
		if err := send(b); err != nil {
			f.mu.Lock()
			f.sendErrs = append(f.sendErrs, err)
			f.mu.Unlock()
			return err
		}
	}
	for {
		select {
		case r, ok := <-replies:
			if !ok {
				return nil
			}
			f.gotReplies <- r
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *fakeSource) ReadChunk(ctx context.Context, folder string, id chunker.ID, buf []byte) ([]byte, error) {
	data, ok := f.chunks[id]
	if !ok {
		return buf, ErrChunkMissing
	}
	return append(buf, data...), nil
}

func (f *fakeSource) TreeHash(ctx context.Context, folder string) (chunker.ID, uint64, uint64, error) {
	if folder != "webroot" {
		return chunker.ID{}, 0, 0, Refuse(ErrRefused, "no folder %s", folder)
	}
	return f.tree, 42, 7, nil
}

// readAll drains a chunk stream, copying the data.
func readAll(cs *ChunkStream) ([]Chunk, error) {
	var out []Chunk
	for {
		c, err := cs.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		c.Data = append([]byte(nil), c.Data...)
		out = append(out, c)
	}
}

// within fails the test if f does not return within d.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}
