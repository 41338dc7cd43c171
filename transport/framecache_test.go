package transport

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// countingSource counts the reads of each chunk; block, if set, holds
// every read until it is closed.
type countingSource struct {
	infoSource
	mu    sync.Mutex
	reads map[chunker.ID]int
	block chan struct{}
}

func newCountingSource() *countingSource {
	return &countingSource{infoSource: infoSource{newFakeSource(), map[chunker.ID]bool{}}, reads: map[chunker.ID]int{}}
}

func (s *countingSource) ReadChunk(ctx context.Context, folder string, id chunker.ID, buf []byte) ([]byte, error) {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	s.reads[id]++
	s.mu.Unlock()
	return s.fakeSource.ReadChunk(ctx, folder, id, buf)
}

func (s *countingSource) readCount() (total, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.reads {
		total += n
		most = max(most, n)
	}
	return total, most
}

// sharingServer is a Server serving src as if several secondaries had
// sessions, with a frame cache of limit bytes.
func sharingServer(t *testing.T, src Source, limit int64) *Server {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close() })
	s := &Server{lim: DefaultLimits(), src: src, enc: enc, frames: newFrameCache(limit)}
	s.sessions.Store(2)
	return s
}

// cacheEntry fills the cache with a one-chunk job of n wire bytes.
func cacheEntry(c *frameCache, id byte, n int) *cachedJob {
	j := getJob(false)
	j.ids = append(j.ids, chunker.ID{id})
	j.parts = append(j.parts, part{size: n, codec: ncsyncv1.Codec_CODEC_RAW, wire: make([]byte, n)})
	e, owner := c.acquire(jobKey("f", j, levelFastest))
	if owner {
		c.fill(e, j)
	}
	return e
}

// TestFrameCacheBound checks that the cache holds at most its limit in
// bytes, evicting the least recently used entries first, and keeps no job
// larger than itself.
func TestFrameCacheBound(t *testing.T) {
	c := newFrameCache(100 << 10)
	for i := range 20 {
		cacheEntry(c, byte(i), 10<<10)
		if i == 5 {
			cacheEntry(c, 0, 10<<10) // used again: kept
		}
		if c.used > c.limit {
			t.Fatalf("after %d entries: %d bytes held, limit %d", i+1, c.used, c.limit)
		}
	}
	has := func(id byte) bool {
		j := getJob(false)
		j.ids = append(j.ids, chunker.ID{id})
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.entries[jobKey("f", j, levelFastest)] != nil
	}
	if has(1) || has(9) || !has(19) || !has(12) {
		t.Errorf("after 20 entries of a tenth of the cache: entry 1 %v, 9 %v, 12 %v, 19 %v; want only the last ones", has(1), has(9), has(12), has(19))
	}
	big := cacheEntry(c, 200, 200<<10)
	if !big.ok || has(200) || !has(19) || c.used > c.limit {
		t.Errorf("a job larger than the cache: served %v, kept %v, evicted the rest %v, %d bytes held", big.ok, has(200), !has(19), c.used)
	}
	if len(c.entries) != c.lru.Len() {
		t.Errorf("%d entries, %d in the LRU", len(c.entries), c.lru.Len())
	}
}

// TestFrameCacheConcurrentRequesters prepares the same jobs from several
// goroutines at once: each job is read and compressed once (a missing
// chunk excepted: it may come back), and every requester gets bytes that
// decode to the chunks.
func TestFrameCacheConcurrentRequesters(t *testing.T) {
	src := newCountingSource()
	ids := framedIDs(src.infoSource)
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	alone := sharingServer(t, src, 64<<20)
	alone.sessions.Store(1)
	if err := alone.sendChunks(context.Background(), "webroot", ids, nil, true, nil, &chunkCounters{}, checkedSend(t, dec, ids, src.fakeSource)); err != nil {
		t.Fatal(err)
	}
	once, _ := src.readCount()
	src.reads = map[chunker.ID]int{}

	s := sharingServer(t, src, 64<<20)
	const requesters, missing = 6, 1
	var wg sync.WaitGroup
	for r := range requesters {
		wg.Go(func() {
			err := s.sendChunks(context.Background(), "webroot", ids, nil, true, nil, &chunkCounters{}, checkedSend(t, dec, ids, src.fakeSource))
			if err != nil {
				t.Errorf("requester %d: %v", r, err)
			}
		})
	}
	wg.Wait()
	if total, _ := src.readCount(); total != once+(requesters-1)*missing {
		t.Errorf("%d requesters: %d chunk reads, one requester alone %d; want the missing chunk's only once more per requester", requesters, total, once)
	}
	if h := s.frames.hits.Load(); h == 0 {
		t.Errorf("no cache hits")
	}
}

// checkedSend returns a send func that decodes each message as a client
// does and fails the test unless it holds ids' chunks, in order.
func checkedSend(t *testing.T, dec *zstd.Decoder, ids []chunker.ID, src *fakeSource) func(*ncsyncv1.FetchChunksResponse) error {
	var next int
	return func(m *ncsyncv1.FetchChunksResponse) error {
		if next+len(m.Chunks) > len(ids) {
			t.Errorf("%d chunks more than requested", next+len(m.Chunks)-len(ids))
			return errors.New("too many chunks")
		}
		chunks, _, err := decodeResponse(dec, m, ids[next:next+len(m.Chunks)], DefaultMaxChunkBytes, nil)
		if err != nil {
			t.Errorf("chunk %d: %v", next+len(chunks), err)
			return err
		}
		for i, c := range chunks {
			if _, ok := src.chunks[ids[next+i]]; ok == c.Missing {
				t.Errorf("chunk %d: missing %v", next+i, c.Missing)
			}
		}
		next += len(chunks)
		return nil
	}
}

// TestFrameCacheAbandoned checks that a requester waiting on a job whose
// preparer gives up (its secondary went away) prepares the job itself.
func TestFrameCacheAbandoned(t *testing.T) {
	src := newCountingSource()
	id := src.add(textChunk(1, 5000))
	src.block = make(chan struct{})
	s := sharingServer(t, src, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	first := getJob(false)
	first.ids = append(first.ids, id)
	done := make(chan struct{})
	go func() {
		s.prepareJob(ctx, "webroot", first, levelFastest)
		close(done)
	}()
	for s.frames.misses.Load() == 0 { // the first requester owns the job
		time.Sleep(time.Millisecond)
	}
	second := getJob(false)
	second.ids = append(second.ids, id)
	waited := make(chan struct{})
	go func() {
		s.prepareJob(context.Background(), "webroot", second, levelFastest)
		close(waited)
	}()
	for s.frames.hits.Load() == 0 { // the second one waits on it
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if first.err == nil {
		t.Fatalf("the cancelled preparation succeeded")
	}
	close(src.block)
	<-waited
	if second.err != nil || len(second.parts) != 1 || second.parts[0].missing {
		t.Fatalf("the waiting requester: %v, parts %+v", second.err, second.parts)
	}
	if total, _ := src.readCount(); total != 1 {
		t.Errorf("%d reads, want the second requester's one", total)
	}
}

// TestSendChunksStalledReader serves the same chunks to two secondaries,
// one of which never takes a message: the other gets every chunk, the
// cache stays within its bound.
func TestSendChunksStalledReader(t *testing.T) {
	src := newCountingSource()
	var ids []chunker.ID
	for i := range 400 { // 16 MiB of incompressible chunks: 4 times the cache
		ids = append(ids, src.add(randomChunk(uint64(i), 40<<10)))
	}
	const limit = 4 << 20
	s := sharingServer(t, src, limit)
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stalled := make(chan error, 1)
	go func() {
		stalled <- s.sendChunks(ctx, "webroot", ids, nil, true, nil, &chunkCounters{}, func(m *ncsyncv1.FetchChunksResponse) error {
			<-ctx.Done() // a secondary that stopped reading
			return ctx.Err()
		})
	}()
	var maxUsed int64
	send := checkedSend(t, dec, ids, src.fakeSource)
	within(t, 30*time.Second, "the other secondary's fetch", func() {
		err = s.sendChunks(context.Background(), "webroot", ids, nil, true, nil, &chunkCounters{}, func(m *ncsyncv1.FetchChunksResponse) error {
			s.frames.mu.Lock()
			maxUsed = max(maxUsed, s.frames.used)
			s.frames.mu.Unlock()
			return send(m)
		})
	})
	if err != nil {
		t.Fatalf("the other secondary: %v", err)
	}
	if maxUsed > limit {
		t.Errorf("cache held %d bytes, limit %d", maxUsed, limit)
	}
	cancel()
	if err := <-stalled; !errors.Is(err, context.Canceled) {
		t.Errorf("the stalled stream ended with %v", err)
	}
}

// TestFrameCacheOwnerReleases checks that the requester that prepared a
// job sends it from the cache like the others: it holds no buffers of its
// own while it waits for its turn on the wire, only the cached bytes its
// in-flight budget counts.
func TestFrameCacheOwnerReleases(t *testing.T) {
	src := newCountingSource()
	id := src.add(textChunk(1, 50_000))
	s := sharingServer(t, src, 1<<20)
	for i := range 2 {
		j := getJob(false)
		j.ids = append(j.ids, id)
		s.prepareJob(context.Background(), "webroot", j, levelFastest)
		if j.err != nil || len(j.parts) != 1 || j.parts[0].codec != ncsyncv1.Codec_CODEC_ZSTD {
			t.Fatalf("requester %d: %v, parts %+v", i, j.err, j.parts)
		}
		if j.raw != nil || j.comp != nil || j.shared == 0 || j.cost() != j.shared {
			t.Errorf("requester %d holds %d raw and %d compressed bytes of its own, cost %d, shared %d; want only the shared bytes",
				i, cap(j.raw), cap(j.comp), j.cost(), j.shared)
		}
	}
	if total, _ := src.readCount(); total != 1 {
		t.Errorf("%d reads, want 1", total)
	}
}

// TestSendChunksSharedMessages checks the size of the responses: at most
// about targetMessageBytes to a lone secondary, at most about
// sharedMessageBytes while several are served, each of the latter in a
// buffer of at most twice its size (gRPC's default pool gave every one
// 1 MiB). How full a response gets below its bound depends on how fast
// the workers fill it (the sender sends what is packed whenever the next
// chunk is not ready), so only the bound is checked.
func TestSendChunksSharedMessages(t *testing.T) {
	src := newCountingSource()
	var ids []chunker.ID
	for i := range 100 { // 4 MiB of incompressible chunks
		ids = append(ids, src.add(randomChunk(uint64(i), 40<<10)))
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for _, tc := range []struct {
		sessions int32
		want     int
	}{{1, targetMessageBytes}, {2, sharedMessageBytes}} {
		s := sharingServer(t, src, 1<<20)
		s.sessions.Store(tc.sessions)
		if got := s.messageBytes(); got != tc.want {
			t.Errorf("%d sessions: responses of %d bytes, want %d", tc.sessions, got, tc.want)
		}
		send := checkedSend(t, dec, ids, src.fakeSource)
		largest := 0
		// Without frames: each chunk is a job of its own.
		err := s.sendChunks(context.Background(), "webroot", ids, nil, false, nil, &chunkCounters{}, func(m *ncsyncv1.FetchChunksResponse) error {
			largest = max(largest, proto.Size(m))
			return send(m)
		})
		if err != nil {
			t.Fatal(err)
		}
		if largest > tc.want+50<<10 {
			t.Errorf("%d sessions: largest response %d bytes, want at most about %d", tc.sessions, largest, tc.want)
		}
	}
	for _, n := range []int{sharedMessageBytes + 4<<10, 40 << 10, targetMessageBytes} {
		b := messageBuffers.Get(n)
		if cap(*b) > 2*n {
			t.Errorf("a response of %d bytes takes a buffer of %d", n, cap(*b))
		}
		messageBuffers.Put(b)
	}
}
