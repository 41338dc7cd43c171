package transport

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// Shape of the chunk pipeline of one FetchChunks stream.
const (
	// targetMessageBytes is the chunk data packed into one response.
	targetMessageBytes = 1 << 20
	// inflightBytes bounds chunk bytes read (and compressed) but not yet
	// sent: several messages, so workers keep going while one is being
	// sent. It is not a hard bound: chunks being read when it is reached
	// still complete.
	inflightBytes = 8 * targetMessageBytes
	// maxQueuedChunks bounds queued chunks when they are tiny.
	maxQueuedChunks = 256
	// maxChunkWorkers bounds the goroutines reading and compressing.
	maxChunkWorkers = 4
)

// chunkJob is one requested chunk on its way from the Source to the wire.
// Jobs and their buffers are pooled.
type chunkJob struct {
	id   chunker.ID
	done chan struct{} // receives once the fields below are set

	raw, comp []byte // buffers, reused
	wire      []byte // raw or comp: what is sent
	size      int    // decoded size
	codec     ncsyncv1.Codec
	missing   bool
	err       error
}

var jobPool = sync.Pool{New: func() any { return &chunkJob{done: make(chan struct{}, 1)} }}

func getJob(id chunker.ID) *chunkJob {
	j := jobPool.Get().(*chunkJob)
	j.id = id
	j.wire, j.size, j.codec, j.missing, j.err = nil, 0, ncsyncv1.Codec_CODEC_UNSPECIFIED, false, nil
	return j
}

// cost is what the job holds against the in-flight budget: the chunk and,
// if sent compressed, its compressed form.
func (j *chunkJob) cost() int64 {
	if j.codec == ncsyncv1.Codec_CODEC_ZSTD {
		return int64(j.size + len(j.wire))
	}
	return int64(j.size)
}

// byteBudget bounds the bytes in flight between the producer, which waits,
// and the sender, which releases.
type byteBudget struct {
	limit int64
	used  atomic.Int64
	freed chan struct{} // a token after each release
}

func (b *byteBudget) wait(ctx context.Context) error {
	for b.used.Load() >= b.limit {
		select {
		case <-b.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *byteBudget) add(n int64) { b.used.Add(n) }

func (b *byteBudget) release(n int64) {
	b.used.Add(-n)
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// sendChunks reads, compresses and sends the chunks of ids in order. A
// producer hands ids to a few workers (reading through the Source and
// compressing with the shared encoder) and, in the same order, to the
// sender, which packs finished chunks into messages of about
// targetMessageBytes. While one message is being sent the workers prepare
// the next ones, up to inflightBytes ahead.
func (s *Server) sendChunks(ctx context.Context, folder string, ids []chunker.ID, ctr *chunkCounters, send func(*ncsyncv1.FetchChunksResponse) error) error {
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan *chunkJob)
	order := make(chan *chunkJob, maxQueuedChunks)
	budget := &byteBudget{limit: inflightBytes, freed: make(chan struct{}, 1)}

	g.Go(func() error {
		defer close(order)
		defer close(jobs)
		for _, id := range ids {
			if err := budget.wait(ctx); err != nil {
				return err
			}
			j := getJob(id)
			select {
			case order <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	workers := min(max(runtime.GOMAXPROCS(0), 2), maxChunkWorkers, len(ids))
	for range workers {
		g.Go(func() error {
			for j := range jobs {
				s.prepareChunk(ctx, folder, j)
				budget.add(j.cost())
				j.done <- struct{}{}
			}
			return nil
		})
	}
	g.Go(func() error { return s.packChunks(ctx, order, budget, ctr, send) })
	return g.Wait()
}

// prepareChunk reads j's chunk and compresses it when that pays (the result
// is under ~97% of the input) and the Source does not say it is pointless.
func (s *Server) prepareChunk(ctx context.Context, folder string, j *chunkJob) {
	if err := ctx.Err(); err != nil {
		j.err = err
		return
	}
	var raw []byte
	var err error
	compress := true
	if hs, ok := s.src.(ChunkHintSource); ok {
		raw, compress, err = hs.ReadChunkHint(ctx, folder, j.id, j.raw[:0])
	} else {
		raw, err = s.src.ReadChunk(ctx, folder, j.id, j.raw[:0])
	}
	j.raw = raw[:0]
	switch {
	case errors.Is(err, ErrChunkMissing):
		j.missing = true
		return
	case err != nil:
		j.err = fmt.Errorf("read chunk %s of folder %q: %w", j.id, folder, err)
		return
	case len(raw) == 0 || len(raw) > s.lim.MaxChunkBytes:
		j.err = fmt.Errorf("read chunk %s of folder %q: %d bytes is outside 1..%d", j.id, folder, len(raw), s.lim.MaxChunkBytes)
		return
	}
	j.size = len(raw)
	if !compress {
		j.codec, j.wire = ncsyncv1.Codec_CODEC_RAW, raw
		return
	}
	comp := s.enc.EncodeAll(raw, j.comp[:0])
	j.comp = comp[:0]
	if len(comp) < len(raw)-len(raw)/32 {
		j.codec, j.wire = ncsyncv1.Codec_CODEC_ZSTD, comp
	} else {
		j.codec, j.wire = ncsyncv1.Codec_CODEC_RAW, raw
	}
}

// packChunks takes finished jobs in request order and sends them in
// messages of about targetMessageBytes. It sends a partial message early
// when the next chunk is not ready, so the wire does not wait for workers.
func (s *Server) packChunks(ctx context.Context, order <-chan *chunkJob, budget *byteBudget, ctr *chunkCounters, send func(*ncsyncv1.FetchChunksResponse) error) error {
	var (
		msg    ncsyncv1.FetchChunksResponse
		datas  []ncsyncv1.ChunkData
		held   []*chunkJob
		nbytes int
	)
	flush := func() error {
		if len(held) == 0 {
			return nil
		}
		msg.Chunks = msg.Chunks[:0]
		for i := range held {
			msg.Chunks = append(msg.Chunks, &datas[i])
		}
		// gRPC has marshalled msg when Send returns (no stats handler
		// keeps it), so its buffers can be reused.
		err := send(&msg)
		for _, j := range held {
			switch {
			case err != nil:
			case j.missing:
				ctr.missing.Add(1)
			default:
				ctr.add(j.size, len(j.wire))
			}
			budget.release(j.cost())
			jobPool.Put(j)
		}
		held, nbytes = held[:0], 0
		return err
	}
	for {
		// Whenever the next chunk is not ready, send what is packed: the
		// wire need not wait, and the producer may be waiting for the
		// budget that sending releases.
		var j *chunkJob
		var ok bool
		select {
		case j, ok = <-order:
		default:
			if err := flush(); err != nil {
				return err
			}
			select {
			case j, ok = <-order:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !ok {
			break
		}
		select {
		case <-j.done:
		default:
			if err := flush(); err != nil {
				return err
			}
			select {
			case <-j.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if j.err != nil {
			return j.err
		}
		if nbytes > 0 && nbytes+len(j.wire) > targetMessageBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(held) == len(datas) {
			datas = append(datas, ncsyncv1.ChunkData{})
		}
		cd := &datas[len(held)]
		cd.Id, cd.Codec, cd.Size, cd.Data, cd.Missing = j.id[:], j.codec, uint32(j.size), j.wire, j.missing
		held = append(held, j)
		nbytes += len(j.wire) + len(j.id)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return flush()
}
