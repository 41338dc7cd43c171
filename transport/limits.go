package transport

import (
	"fmt"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/ncsync/ncsync/chunker"
)

// Limits bound what a peer may make this node do or allocate. Both sides of
// a connection should use the same Limits; the zero value of a field means
// its default (see DefaultLimits).
type Limits struct {
	MaxMessageBytes      int    // gRPC max recv/send message size (Sync stream and requests)
	MaxConcurrentStreams uint32 // per connection (server)
	MaxChunkBytes        int    // largest chunk accepted (the chunker's Max)
	MaxEntryChunks       int    // chunks per file; also per received batch in total
	MaxBatchEntries      int    // entries per batch message
	MaxFetchIDs          int    // chunk ids per FetchChunks request
	MaxPeerFetches       int    // FetchChunks streams served at once per peer (server)
	ZstdMaxWindow        uint64 // zstd decoder window limit
	ZstdMaxMemory        uint64 // zstd decoder memory limit (decoded size)

	KeepaliveTime, KeepaliveTimeout time.Duration
	// IdleTimeout ends a session whose peer sent nothing for that long
	// while this side waited (heartbeat.go); heartbeats go every quarter
	// of it.
	IdleTimeout time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxMessageBytes      = 8 << 20
	DefaultMaxConcurrentStreams = 16
	DefaultMaxChunkBytes        = chunker.MaxLimit // 16 MiB
	DefaultMaxEntryChunks       = 4 << 20
	DefaultMaxBatchEntries      = 4096
	DefaultMaxFetchIDs          = 4096
	DefaultMaxPeerFetches       = 4
	DefaultZstdMaxWindow        = 8 << 20
	DefaultZstdMaxMemory        = 64 << 20
	// A ping after 10 s without a frame (gRPC's shortest for a client),
	// answered within 4 s: a dead link is found within 14 s.
	DefaultKeepaliveTime    = 10 * time.Second
	DefaultKeepaliveTimeout = 4 * time.Second
	DefaultIdleTimeout      = 12 * time.Second
)

// Lower bounds Validate enforces.
const (
	// minMessageBytes leaves room for a long path and a page of chunk refs.
	minMessageBytes = 64 << 10
	// fetchOverhead is what a FetchChunksResponse carrying one chunk adds
	// to the chunk's bytes (ids, sizes, tags), generously rounded up.
	fetchOverhead = 4 << 10
)

// DefaultLimits returns the limits ncsync uses unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxMessageBytes:      DefaultMaxMessageBytes,
		MaxConcurrentStreams: DefaultMaxConcurrentStreams,
		MaxChunkBytes:        DefaultMaxChunkBytes,
		MaxEntryChunks:       DefaultMaxEntryChunks,
		MaxBatchEntries:      DefaultMaxBatchEntries,
		MaxFetchIDs:          DefaultMaxFetchIDs,
		MaxPeerFetches:       DefaultMaxPeerFetches,
		ZstdMaxWindow:        DefaultZstdMaxWindow,
		ZstdMaxMemory:        DefaultZstdMaxMemory,
		KeepaliveTime:        DefaultKeepaliveTime,
		KeepaliveTimeout:     DefaultKeepaliveTimeout,
		IdleTimeout:          DefaultIdleTimeout,
	}
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxMessageBytes, d.MaxMessageBytes)
	set(&l.MaxChunkBytes, d.MaxChunkBytes)
	set(&l.MaxEntryChunks, d.MaxEntryChunks)
	set(&l.MaxBatchEntries, d.MaxBatchEntries)
	set(&l.MaxFetchIDs, d.MaxFetchIDs)
	set(&l.MaxPeerFetches, d.MaxPeerFetches)
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = d.MaxConcurrentStreams
	}
	if l.ZstdMaxWindow == 0 {
		l.ZstdMaxWindow = d.ZstdMaxWindow
	}
	if l.ZstdMaxMemory == 0 {
		l.ZstdMaxMemory = d.ZstdMaxMemory
	}
	if l.KeepaliveTime == 0 {
		l.KeepaliveTime = d.KeepaliveTime
	}
	if l.KeepaliveTimeout == 0 {
		l.KeepaliveTimeout = d.KeepaliveTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	return l
}

// Validate reports whether l (after defaults for zero fields) is usable; the
// error names the offending field.
func (l Limits) Validate() error {
	l = l.withDefaults()
	switch {
	case l.MaxMessageBytes < minMessageBytes:
		return fmt.Errorf("transport limits: MaxMessageBytes %d is below %d", l.MaxMessageBytes, minMessageBytes)
	case l.MaxConcurrentStreams < 2:
		return fmt.Errorf("transport limits: MaxConcurrentStreams %d is below 2 (one Sync and one FetchChunks)", l.MaxConcurrentStreams)
	case l.MaxChunkBytes < 0 || l.MaxChunkBytes > chunker.MaxLimit:
		return fmt.Errorf("transport limits: MaxChunkBytes %d is outside 1..%d", l.MaxChunkBytes, chunker.MaxLimit)
	case l.MaxEntryChunks < 0:
		return fmt.Errorf("transport limits: MaxEntryChunks %d is negative", l.MaxEntryChunks)
	case l.MaxBatchEntries < 0:
		return fmt.Errorf("transport limits: MaxBatchEntries %d is negative", l.MaxBatchEntries)
	case l.MaxFetchIDs < 0 || l.MaxFetchIDs*(2+len(chunker.ID{}))+fetchOverhead > l.MaxMessageBytes:
		return fmt.Errorf("transport limits: MaxFetchIDs %d is negative or does not fit in MaxMessageBytes %d", l.MaxFetchIDs, l.MaxMessageBytes)
	case l.MaxPeerFetches < 0:
		return fmt.Errorf("transport limits: MaxPeerFetches %d is negative", l.MaxPeerFetches)
	case l.ZstdMaxWindow < zstd.MinWindowSize || l.ZstdMaxWindow > zstd.MaxWindowSize:
		return fmt.Errorf("transport limits: ZstdMaxWindow %d is outside %d..%d", l.ZstdMaxWindow, zstd.MinWindowSize, uint64(zstd.MaxWindowSize))
	case l.ZstdMaxMemory < uint64(l.MaxChunkBytes):
		return fmt.Errorf("transport limits: ZstdMaxMemory %d is below MaxChunkBytes %d", l.ZstdMaxMemory, l.MaxChunkBytes)
	case l.KeepaliveTime < 0 || l.KeepaliveTimeout < 0:
		return fmt.Errorf("transport limits: KeepaliveTime %v and KeepaliveTimeout %v must not be negative", l.KeepaliveTime, l.KeepaliveTimeout)
	case l.IdleTimeout < 0 || l.IdleTimeout > maxIdleTimeout:
		return fmt.Errorf("transport limits: IdleTimeout %v is outside 0..%v", l.IdleTimeout, maxIdleTimeout)
	}
	return nil
}

// fetchMessageBytes is the largest FetchChunksResponse: MaxMessageBytes, or
// one whole chunk of MaxChunkBytes if that is larger.
func (l Limits) fetchMessageBytes() int {
	return max(l.MaxMessageBytes, l.MaxChunkBytes+fetchOverhead)
}

// maxRefWireBytes is the most a ChunkRef adds to an Entry or MoreChunks:
// field tag and length, then id (tag, length, 32 bytes) and size (tag,
// varint of up to 5 bytes).
const maxRefWireBytes = 2 + (2 + 32) + (1 + 5)

// maxRefsPerMessage caps the chunk refs of one message, inline or in one
// MoreChunks.
const maxRefsPerMessage = 64 << 10

// entryReserve is the message space kept for an entry's other fields (path,
// target, ids) and the batch envelope when computing refsPerMessage.
const entryReserve = 16 << 10

// refsPerMessage returns how many chunk refs one message may carry.
func (l Limits) refsPerMessage() int {
	return min(maxRefsPerMessage, (l.MaxMessageBytes-entryReserve)/maxRefWireBytes)
}
