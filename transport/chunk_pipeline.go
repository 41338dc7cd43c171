package transport

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/patch"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// Shape of the chunk pipeline of one FetchChunks stream.
const (
	// targetMessageBytes is the chunk data packed into one response.
	targetMessageBytes = 1 << 20
	// sharedMessageBytes is targetMessageBytes while several secondaries
	// are served: every stream holds a message or two marshalled for
	// gRPC until the link takes it (with 8 secondaries, 14 MB of the
	// primary's heap at 1 MiB a message), and the frame cache already
	// saves the work that larger messages would.
	sharedMessageBytes = 256 << 10
	// inflightBytes bounds chunk bytes read (and compressed) but not yet
	// sent: several messages, so workers keep going while one is being
	// sent. It is not a hard bound: chunks being read when it is reached
	// still complete.
	inflightBytes = 8 * targetMessageBytes
	// maxQueuedChunks bounds queued jobs when they are tiny.
	maxQueuedChunks = 256
	// maxChunkWorkers bounds the goroutines reading and compressing.
	maxChunkWorkers = 4
	// frameBytes is the uncompressed size at which a shared frame is
	// closed. One zstd frame per 4 KiB file costs twice the CPU of a
	// frame per MiB on both sides and compresses a third worse (measured
	// on the bench's webroot: 206 against 343 MB/s to encode, 700 against
	// 1,560 MB/s to decode, ratio 2.65 against 5.13). Larger frames shrink
	// text further (ratio 5.12 at 1 MiB, 5.38 at 2 MiB, 5.47 at 3 MiB),
	// but each frame job in flight holds its frame's buffers (with 3 MiB
	// frames the primary's peak RSS for one secondary's copy of the
	// webroot was 156 MiB, against 140 with 1 MiB frames), and a frame
	// stays within the encoders' window (encoderWindow).
	frameBytes = encoderWindow - maxFramedChunk
	// maxFramedChunk is the largest chunk put into a shared frame, so a
	// frame never exceeds frameBytes+maxFramedChunk (below MaxFrameBytes).
	maxFramedChunk = 256 << 10
	// minFrameBytes is the size from which a frame may close early, at a
	// chunk whose id ends a frame (frameEnd). Frames cut by the ids, not
	// by where a request began, come out the same for secondaries whose
	// requests differ at the start: they can share the frame cache. It is
	// close to frameBytes: a frame is about minFrameBytes plus 16 chunks
	// long, and its ratio is that of its size.
	minFrameBytes = frameBytes * 2 / 3
)

// frameEnd reports whether a frame of at least minFrameBytes closes after
// chunk id: one chunk in 16, by its id.
func frameEnd(id chunker.ID) bool { return id[0]&15 == 0 }

// MaxFrameBytes bounds the decoded size of a shared frame
// (FetchChunksResponse.frame); a client refuses a larger one.
const MaxFrameBytes = 4 << 20

// MaxResponseDecoded bounds what the zstd chunks of one
// FetchChunksResponse decode to, by their announced sizes: the room a
// client sets aside before decoding. A server packs messages within it (a
// single chunk of up to MaxChunkBytes always fits); a client refuses a
// response announcing more, so that a peer's claim of, say, 4,096 chunks
// of 16 MiB in one small message is refused instead of allocated.
const MaxResponseDecoded = 16 << 20

// maxResponseDecoded is MaxResponseDecoded, or one chunk of maxChunk if
// that is larger.
func maxResponseDecoded(maxChunk int) int { return max(MaxResponseDecoded, maxChunk) }

// chunkJob is one requested chunk, or a run of small compressible chunks
// that share one zstd frame, on its way from the Source to the wire. Jobs
// and their buffers are pooled.
type chunkJob struct {
	ids   []chunker.ID
	frame bool             // the chunks share one frame if it pays
	sig   *patch.Signature // the base offered for the job's one chunk
	done  chan struct{}    // receives once the fields below are set

	raw, comp []byte // buffers, reused: raw holds every chunk read, in order
	parts     []part // one per id
	framed    []byte // comp when the frame paid, else nil
	shared    int64  // bytes of a cached job that parts and framed point into
	err       error
}

// part is one chunk of a job: its bytes on the wire and their decoding.
type part struct {
	size    int // decoded size
	wire    []byte
	codec   ncsyncv1.Codec
	missing bool
	// wire is a patch of patchSize bytes (decoded by codec) against the
	// base the request offered, not the chunk.
	patched   bool
	patchSize int
}

// jobPools hold the jobs of single chunks ([0]) and of frames ([1]) apart.
// A frame job's buffers grow to a frame's size (and capacity beyond);
// were the pools one, each of the many single-chunk jobs in flight on a
// stream of large chunks could hold a frame's buffers, which the
// in-flight budget, counting what the buffers hold, does not see.
var jobPools = [2]sync.Pool{
	{New: func() any { return &chunkJob{done: make(chan struct{}, 1)} }},
	{New: func() any { return &chunkJob{done: make(chan struct{}, 1)} }},
}

func poolOf(frame bool) *sync.Pool {
	if frame {
		return &jobPools[1]
	}
	return &jobPools[0]
}

func getJob(frame bool) *chunkJob {
	j := poolOf(frame).Get().(*chunkJob)
	j.ids, j.frame, j.sig, j.parts, j.framed, j.shared, j.err = j.ids[:0], frame, nil, j.parts[:0], nil, 0, nil
	return j
}

// putJob returns j to the pool of its kind.
func putJob(j *chunkJob) { poolOf(j.frame).Put(j) }

// cost is what the job holds against the in-flight budget: the chunks
// read and what was compressed, or the cached job it sends.
func (j *chunkJob) cost() int64 { return int64(len(j.raw)+len(j.comp)) + j.shared }

// decodedBytes is what the job's compressed chunks decode to at the
// client: the frame, or one zstd chunk.
func (j *chunkJob) decodedBytes() int {
	n := 0
	for _, p := range j.parts {
		switch {
		case p.patched: // built at the client, raw or zstd
			n += p.size
		case p.codec == ncsyncv1.Codec_CODEC_ZSTD:
			n += p.size
		}
	}
	return n
}

// wireBytes is the job's size in a message.
func (j *chunkJob) wireBytes() int {
	n := len(j.framed)
	for _, p := range j.parts {
		n += len(p.wire) + len(chunker.ID{})
	}
	return n
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
// producer groups ids into jobs (with frames, runs of small compressible
// chunks whose size the Source knows share one), hands them to a few
// workers (reading through the Source and compressing with the shared
// encoder) and, in the same order, to the sender, which packs finished
// jobs into messages of about messageBytes. While one message is
// being sent the workers prepare the next ones, up to inflightBytes ahead.
//
// tune, if not nil, chooses the codec level of each job and is told how
// long the sender waited for the link and for the workers.
//
// sigs, if not nil, holds for each id the signature of a base the
// requester offered for it (nil: none): such a chunk goes alone, as a
// patch against the base when that is smaller.
func (s *Server) sendChunks(ctx context.Context, folder string, ids []chunker.ID, sigs []*patch.Signature, frames bool, tune *codecTuner, ctr *chunkCounters, send func(*ncsyncv1.FetchChunksResponse) error) error {
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan *chunkJob)
	order := make(chan *chunkJob, maxQueuedChunks)
	budget := &byteBudget{limit: inflightBytes, freed: make(chan struct{}, 1)}
	info, _ := s.src.(ChunkInfoSource)
	if !frames {
		info = nil
	}

	g.Go(func() error {
		defer close(order)
		defer close(jobs)
		queue := func(j *chunkJob) error {
			if err := budget.wait(ctx); err != nil {
				return err
			}
			select {
			case order <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- j:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var group *chunkJob // the frame being filled
		var groupBytes int
		for i, id := range ids {
			if info != nil && (sigs == nil || sigs[i] == nil) {
				if size, compress, ok := info.ChunkInfo(folder, id); ok && compress && size <= maxFramedChunk {
					if group == nil {
						group, groupBytes = getJob(true), 0
					}
					group.ids = append(group.ids, id)
					if groupBytes += size; groupBytes >= frameBytes || groupBytes >= minFrameBytes && frameEnd(id) {
						if err := queue(group); err != nil {
							return err
						}
						group = nil
					}
					continue
				}
			}
			if group != nil {
				if err := queue(group); err != nil {
					return err
				}
				group = nil
			}
			j := getJob(false)
			j.ids = append(j.ids, id)
			if sigs != nil {
				j.sig = sigs[i]
			}
			if err := queue(j); err != nil {
				return err
			}
		}
		if group != nil {
			return queue(group)
		}
		return nil
	})
	workers := min(max(runtime.GOMAXPROCS(0), 2), maxChunkWorkers, len(ids))
	for range workers {
		g.Go(func() error {
			for j := range jobs {
				s.prepareJob(ctx, folder, j, tune.get())
				budget.add(j.cost())
				j.done <- struct{}{}
			}
			return nil
		})
	}
	g.Go(func() error { return s.packChunks(ctx, order, budget, tune, ctr, send) })
	return g.Wait()
}

// prepareJob prepares j: from the frame cache while several secondaries
// are served, else by encodeJob.
func (s *Server) prepareJob(ctx context.Context, folder string, j *chunkJob, level codecLevel) {
	if s.frames == nil || s.sessions.Load() < 2 || j.sig != nil {
		s.encodeJob(ctx, folder, j, level)
		return
	}
	k := jobKey(folder, j, level)
	for {
		e, owner := s.frames.acquire(k)
		if owner {
			s.encodeJob(ctx, folder, j, level)
			if cacheable(j) {
				s.frames.fill(e, j)
				// The cache holds the bytes now: j sends them from
				// there, and its buffers go back to the pool for the
				// next job instead of waiting for j's turn on the wire.
				raw, comp, pool := j.raw, j.comp, poolOf(j.frame)
				e.serve(j)
				spare := pool.Get().(*chunkJob)
				spare.raw, spare.comp = raw[:0], comp[:0]
				pool.Put(spare)
			} else {
				s.frames.abandon(e)
			}
			return
		}
		if e.wait(ctx) {
			e.serve(j)
			return
		}
		if err := ctx.Err(); err != nil {
			j.err = err
			return
		}
		// Abandoned by its owner: prepare it here, or wait for whoever
		// asked first since.
	}
}

// encodeJob reads j's chunks and compresses them when that pays (the
// result is under ~97% of the input) and the Source does not say it is
// pointless: a frame job as one frame, any other chunk alone.
func (s *Server) encodeJob(ctx context.Context, folder string, j *chunkJob, level codecLevel) {
	j.raw, j.comp = j.raw[:0], j.comp[:0]
	compress := true
	for _, id := range j.ids {
		if err := ctx.Err(); err != nil {
			j.err = err
			return
		}
		start := len(j.raw)
		var raw []byte
		var err error
		if hs, ok := s.src.(ChunkHintSource); ok {
			raw, compress, err = hs.ReadChunkHint(ctx, folder, id, j.raw)
		} else {
			raw, err = s.src.ReadChunk(ctx, folder, id, j.raw)
		}
		switch {
		case errors.Is(err, ErrChunkMissing):
			j.parts = append(j.parts, part{missing: true})
			continue
		case err != nil:
			j.err = fmt.Errorf("read chunk %s of folder %q: %w", id, folder, err)
			return
		case len(raw)-start <= 0 || len(raw)-start > s.lim.MaxChunkBytes:
			j.err = fmt.Errorf("read chunk %s of folder %q: %d bytes is outside 1..%d", id, folder, len(raw)-start, s.lim.MaxChunkBytes)
			return
		}
		j.raw = raw
		j.parts = append(j.parts, part{size: len(raw) - start, codec: ncsyncv1.Codec_CODEC_RAW})
	}
	// Raw parts point into j.raw, read in full by now.
	off := 0
	for i := range j.parts {
		p := &j.parts[i]
		p.wire = j.raw[off : off+p.size]
		off += p.size
	}
	enc := s.encoder(level)
	switch {
	case len(j.raw) == 0 || enc == nil || !compress && !j.frame:
	case j.frame:
		comp := enc.EncodeAll(j.raw, j.comp)
		j.comp = comp
		if shrinks(len(comp), len(j.raw)) && len(j.raw) <= MaxFrameBytes {
			j.framed = comp
			for i := range j.parts {
				if p := &j.parts[i]; !p.missing {
					p.codec, p.wire = ncsyncv1.Codec_CODEC_IN_FRAME, nil
				}
			}
		}
	case incompressible(j.raw):
	default: // one chunk
		p := &j.parts[0]
		comp := enc.EncodeAll(j.raw, j.comp)
		j.comp = comp
		if shrinks(len(comp), len(j.raw)) {
			p.codec, p.wire = ncsyncv1.Codec_CODEC_ZSTD, comp
		}
	}
	if j.sig != nil && len(j.parts) == 1 {
		patchPart(j, j.sig, enc)
	}
}

// messageBytes is the chunk data to pack into one response now.
func (s *Server) messageBytes() int {
	if s.sessions.Load() >= 2 {
		return sharedMessageBytes
	}
	return targetMessageBytes
}

// shrinks reports whether n compressed bytes are worth sending instead of
// raw uncompressed ones: under ~97% of them.
func shrinks(n, raw int) bool { return n < raw-raw/32 }

// packChunks takes finished jobs in request order and sends them in
// messages of about messageBytes, at most one frame per message and
// zstd chunks of at most MaxResponseDecoded decoded bytes (a client
// refuses more). It
// sends a partial message early when the next job is not ready, so the
// wire does not wait for workers.
func (s *Server) packChunks(ctx context.Context, order <-chan *chunkJob, budget *byteBudget, tune *codecTuner, ctr *chunkCounters, send func(*ncsyncv1.FetchChunksResponse) error) error {
	var (
		work   time.Duration // waited for the workers since the last send
		msg    ncsyncv1.FetchChunksResponse
		datas  []ncsyncv1.ChunkData
		held   []*chunkJob
		nparts int // chunks of the held jobs
		nbytes int
		ndec   int  // decoded bytes of the held zstd chunks
		framed bool // a held job brings the message's frame
	)
	flush := func() error {
		if len(held) == 0 {
			return nil
		}
		msg.Chunks = msg.Chunks[:0]
		n := 0
		for _, j := range held {
			if j.framed != nil {
				msg.Frame = j.framed
			}
			for i, p := range j.parts {
				cd := &datas[n]
				n++
				// A missing part has no codec, size or bytes.
				cd.Id, cd.Codec, cd.Size, cd.Data, cd.Missing = j.ids[i][:], p.codec, uint32(p.size), p.wire, p.missing
				cd.Patched, cd.PatchSize = p.patched, uint32(p.patchSize)
				msg.Chunks = append(msg.Chunks, cd)
			}
		}
		// gRPC has marshalled msg when Send returns (no stats handler
		// keeps it), so its buffers can be reused.
		start := time.Now()
		err := send(&msg)
		if tune != nil {
			raw, wire := 0, len(msg.Frame)
			for _, j := range held {
				for _, p := range j.parts {
					raw += p.size
					wire += len(p.wire)
				}
			}
			m := tuneSample{send: time.Since(start), work: work, raw: raw, wire: wire, now: time.Now()}
			m.busy, m.busyKnown = tune.linkBusy()
			tune.observe(m)
		}
		work = 0
		for _, j := range held {
			if err == nil {
				ctr.wire.Add(uint64(len(j.framed)))
				for _, p := range j.parts {
					if p.missing {
						ctr.missing.Add(1)
					} else {
						ctr.add(p.size, len(p.wire))
					}
				}
			}
			budget.release(j.cost())
			putJob(j)
		}
		held, nparts, nbytes, ndec, framed, msg.Frame = held[:0], 0, 0, 0, false, nil
		return err
	}
	for {
		// Whenever the next job is not ready, send what is packed: the
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
			start := time.Now()
			select {
			case j, ok = <-order:
			case <-ctx.Done():
				return ctx.Err()
			}
			work += time.Since(start)
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
			start := time.Now()
			select {
			case <-j.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			work += time.Since(start)
		}
		if j.err != nil {
			return j.err
		}
		size, dec := j.wireBytes(), j.decodedBytes()
		if nbytes > 0 && (nbytes+size > s.messageBytes() || j.framed != nil && framed || ndec+dec > MaxResponseDecoded) {
			if err := flush(); err != nil {
				return err
			}
		}
		nparts += len(j.parts)
		for len(datas) < nparts {
			datas = append(datas, ncsyncv1.ChunkData{})
		}
		framed = framed || j.framed != nil
		held = append(held, j)
		nbytes += size
		ndec += dec
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return flush()
}
