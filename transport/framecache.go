package transport

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"

	"github.com/ncsync/ncsync/chunker"
)

// Sharing the work of serving chunks among secondaries. When several
// secondaries copy the same tree they ask for the same chunks, in the same
// order, within seconds of each other. The first request of a job (a chunk,
// or a run of chunks sharing a frame) reads and compresses it; the result,
// as it goes on the wire, is kept in a bounded cache for the others, which
// neither read the disk nor compress again. A requester that finds the job
// being prepared waits for that preparation only: a worker preparing a job
// never waits on its own stream's sender, so a stalled secondary slows no
// other. The cache holds immutable bytes bounded by frameCacheBytes; what
// an evicted entry still serves is held by the streams sending it, within
// their in-flight budgets.

// frameCacheBytes bounds the wire bytes the cache holds: two streams'
// in-flight budgets. It covers secondaries up to 16 MiB of wire bytes
// apart (about 70 MB of a webroot, 16 MiB of media). Being Go heap, it
// costs up to twice that in resident memory.
const frameCacheBytes = 2 * inflightBytes

// frameKey names a prepared job: its chunks and how they were encoded.
type frameKey struct {
	folder string
	ids    chunker.ID // the single id, or a hash over a frame's ids
	frame  bool
	level  codecLevel
}

// jobKey returns the cache key of j's chunks at level.
func jobKey(folder string, j *chunkJob, level codecLevel) frameKey {
	k := frameKey{folder: folder, frame: j.frame, level: level}
	if len(j.ids) == 1 && !j.frame {
		k.ids = j.ids[0]
		return k
	}
	k.ids = chunker.FileID(j.ids)
	return k
}

// cachedJob is one prepared job's parts and frame. Its byte slices are
// never written after fill.
type cachedJob struct {
	key   frameKey
	ready chan struct{} // closed once filled or abandoned
	ok    bool          // filled: parts and framed are valid
	parts []part
	// framed is the frame when the job's chunks share one.
	framed []byte
	size   int64
	el     *list.Element // in the LRU while filled and cached
}

// frameCache is a byte-bounded LRU of prepared jobs, with the jobs being
// prepared. Safe for concurrent use.
type frameCache struct {
	limit int64

	mu      sync.Mutex
	used    int64
	entries map[frameKey]*cachedJob
	lru     list.List // filled entries, most recently used at the front

	hits, misses atomic.Uint64
}

func newFrameCache(limit int64) *frameCache {
	return &frameCache{limit: limit, entries: make(map[frameKey]*cachedJob)}
}

// acquire returns the entry of k. owner is true when the caller is the
// first to ask: it must prepare the job and call fill or abandon.
// Otherwise the entry may still be in preparation (wait on ready).
func (c *frameCache) acquire(k frameKey) (e *cachedJob, owner bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil {
		if e.el != nil {
			c.lru.MoveToFront(e.el)
		}
		c.hits.Add(1)
		return e, false
	}
	c.misses.Add(1)
	e = &cachedJob{key: k, ready: make(chan struct{})}
	c.entries[k] = e
	return e, true
}

// fill stores j's prepared parts in e (copied: j's buffers are reused)
// and wakes those waiting on it. A job larger than the whole cache is not
// kept.
func (c *frameCache) fill(e *cachedJob, j *chunkJob) {
	n := len(j.framed)
	for _, p := range j.parts {
		n += len(p.wire)
	}
	data := make([]byte, 0, n)
	e.parts = make([]part, len(j.parts))
	for i, p := range j.parts {
		e.parts[i] = p
		if p.wire != nil {
			start := len(data)
			data = append(data, p.wire...)
			e.parts[i].wire = data[start:len(data):len(data)]
		}
	}
	if j.framed != nil {
		data = append(data, j.framed...)
		e.framed = data[len(data)-len(j.framed):]
	}
	e.size = int64(n) + int64(len(e.parts))*int64(len(part{}.wire)+16)
	e.ok = true

	c.mu.Lock()
	if e.size <= c.limit && c.entries[e.key] == e {
		e.el = c.lru.PushFront(e)
		c.used += e.size
		for c.used > c.limit {
			c.evictLocked(c.lru.Back().Value.(*cachedJob))
		}
	} else if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	c.mu.Unlock()
	close(e.ready)
}

// abandon ends a preparation that failed or was cancelled: those waiting
// prepare the job themselves.
func (c *frameCache) abandon(e *cachedJob) {
	c.mu.Lock()
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	c.mu.Unlock()
	close(e.ready)
}

func (c *frameCache) evictLocked(e *cachedJob) {
	c.lru.Remove(e.el)
	e.el = nil
	c.used -= e.size
	delete(c.entries, e.key)
}

// wait returns e once it is ready, and whether it holds the job; false
// when the preparation was abandoned or ctx ended first.
func (e *cachedJob) wait(ctx context.Context) bool {
	select {
	case <-e.ready:
		return e.ok
	case <-ctx.Done():
		return false
	}
}

// serve makes j send e's parts. j drops the buffers it had from the
// pool: many cached jobs fit in a stream's in-flight budget, and each
// would otherwise hold a frame's worth of buffers it does not use.
func (e *cachedJob) serve(j *chunkJob) {
	j.raw, j.comp = nil, nil
	j.parts = append(j.parts[:0], e.parts...)
	j.framed = e.framed
	j.shared = e.size
}

// cacheable reports whether j's result may serve other requests: it read
// every chunk (a missing one may come back).
func cacheable(j *chunkJob) bool {
	if j.err != nil {
		return false
	}
	for _, p := range j.parts {
		if p.missing {
			return false
		}
	}
	return true
}
