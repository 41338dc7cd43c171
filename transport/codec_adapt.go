package transport

import (
	"bytes"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Adaptive compression. What a chunk stream waits for says what limits it:
// a sender blocked in Send while its socket is busy with data waiting on
// the network (linkprobe.go) is link-bound, and spending more CPU on
// compression sends fewer bytes through the bottleneck; a sender blocked
// in Send on an idle socket waits for the peer, which harder compression
// does not help; a sender waiting for the workers is CPU-bound, and
// compressing less (down to not at all) lets the chunks out sooner. Each peer has a codecTuner, kept across its streams, that moves
// one step at a time between no compression, zstd fastest and zstd level 3
// after every few messages, by the ratio of the two waits. Compression is
// dropped only when it also buys little (the chunks shrink by less than a
// fifth): sending well-compressible chunks raw multiplies what TLS, the
// kernel and the peer handle, which on a busy CPU costs more than zstd
// fastest saves (measured: the webroot to 8 secondaries on 2 loaded
// cores took 25 % more primary CPU raw).

// codecLevel is how chunks are compressed; the zero value is the default.
type codecLevel int8

const (
	levelRaw     codecLevel = -1 // no compression: CPU-bound on a fast link
	levelFastest codecLevel = 0  // zstd fastest: the default
	levelBetter  codecLevel = 1  // zstd level 3 (SpeedDefault): link-bound
)

func (l codecLevel) String() string {
	switch l {
	case levelRaw:
		return "raw"
	case levelBetter:
		return "zstd-3"
	}
	return "zstd-fastest"
}

// Tuning of the codec choice.
const (
	// tuneMessages is how many messages a decision looks back on.
	tuneMessages = 8
	// tuneMinWait is the least wait worth a decision: below it the
	// stream is neither link- nor CPU-bound to speak of.
	tuneMinWait = 5 * time.Millisecond
	// tuneRatio is how many times longer one wait must be than the other
	// for a step: between the two, the level stays.
	tuneRatio = 2
)

// codecTuner chooses a peer's codec level from its streams' waits. Safe
// for concurrent use; the zero value starts at zstd fastest.
type codecTuner struct {
	level atomic.Int32 // a codecLevel

	mu         sync.Mutex
	send, work time.Duration // waits since the last decision
	raw, wire  int           // chunk bytes sent since, decoded and on the wire
	msgs       int
	// The window's start: when, and the socket's busy time then.
	start     time.Time
	busy0     time.Duration
	busyKnown bool
	// link reports the socket's busy time (connTable.linkBusy) of the
	// peer's latest connection; nil when unknown.
	link func() (time.Duration, bool)
}

// setLink makes probe the peer's socket probe.
func (t *codecTuner) setLink(probe func() (time.Duration, bool)) {
	t.mu.Lock()
	t.link = probe
	t.mu.Unlock()
}

// linkBusy asks the peer's socket probe.
func (t *codecTuner) linkBusy() (time.Duration, bool) {
	t.mu.Lock()
	probe := t.link
	t.mu.Unlock()
	if probe == nil {
		return 0, false
	}
	return probe()
}

// tuneSample is one message sent: the sender's waits for Send (link) and
// for the workers (CPU) since the previous one, the chunk bytes it held
// decoded and on the wire, when it was sent and the socket's busy time
// then (linkBusy; busyKnown false when it cannot be told).
type tuneSample struct {
	send, work time.Duration
	raw, wire  int
	now        time.Time
	busy       time.Duration
	busyKnown  bool
}

// linkBound is the share of a window's time the socket must have been
// busy on the network for the stream to count as link-bound.
const linkBound = 0.5

// get returns the level to prepare the next chunks with.
func (t *codecTuner) get() codecLevel {
	if t == nil {
		return levelFastest
	}
	return codecLevel(t.level.Load())
}

// observe records one message.
func (t *codecTuner) observe(m tuneSample) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.msgs == 0 {
		t.start, t.busy0, t.busyKnown = m.now, m.busy, m.busyKnown
	}
	t.send += m.send
	t.work += m.work
	t.raw += m.raw
	t.wire += m.wire
	if t.msgs++; t.msgs <= tuneMessages {
		return
	}
	l := codecLevel(t.level.Load())
	pays := 4*t.raw > 5*t.wire // shrinks by a fifth or more
	onLink := t.busyKnown && m.busyKnown && m.now.After(t.start) &&
		float64(m.busy-t.busy0) >= linkBound*float64(m.now.Sub(t.start))
	switch {
	case t.send >= tuneMinWait && t.send > tuneRatio*t.work && onLink && l < levelBetter:
		t.level.Store(int32(l + 1))
	case t.work >= tuneMinWait && t.work > tuneRatio*t.send && (l == levelBetter || l == levelFastest && !pays):
		t.level.Store(int32(l - 1))
	}
	t.send, t.work, t.raw, t.wire, t.msgs = 0, 0, 0, 0, 0
}

// encoder returns the encoder of level, or nil for no compression.
func (s *Server) encoder(l codecLevel) *zstd.Encoder {
	switch {
	case l == levelRaw:
		return nil
	case l == levelBetter && s.encBetter != nil:
		return s.encBetter
	}
	return s.enc
}

// compressedMagic are the first bytes of compressed formats: a file's first
// chunk starting with one is not worth compressing, whatever its name.
var compressedMagic = [][]byte{
	{0xff, 0xd8, 0xff},            // JPEG
	{0x89, 'P', 'N', 'G'},         // PNG
	{'G', 'I', 'F', '8'},          // GIF
	{'P', 'K', 0x03, 0x04},        // zip, office, jar, epub
	{0x1f, 0x8b},                  // gzip
	{0x28, 0xb5, 0x2f, 0xfd},      // zstd
	{0xfd, '7', 'z', 'X', 'Z', 0}, // xz
	{'7', 'z', 0xbc, 0xaf},        // 7z
	{'B', 'Z', 'h'},               // bzip2
	{'R', 'a', 'r', '!'},          // rar
	{0x1a, 0x45, 0xdf, 0xa3},      // Matroska, WebM
	{'O', 'g', 'g', 'S'},          // Ogg
	{'f', 'L', 'a', 'C'},          // FLAC
	{'I', 'D', '3'},               // MP3 with a tag
	{0x04, 0x22, 0x4d, 0x18},      // LZ4
	{0x00, 0x00, 0x00, 0x0c, 'j'}, // JPEG 2000
	{'w', 'O', 'F', 'F'},          // WOFF
	{'w', 'O', 'F', '2'},          // WOFF2
	{0x00, 0x00, 0x01, 0xba},      // MPEG program stream
	{0x52, 0x49, 0x46, 0x46},      // RIFF (WebP, AVI, WAV): judged by entropy below when uncompressed
}

// Entropy probe: bytes sampled across a chunk, and the bits per byte
// above which the chunk is taken for compressed or random data.
const (
	probeSlices     = 16
	probeSliceBytes = 256
	probeMinBytes   = probeSlices * probeSliceBytes
	probeMaxBits    = 7.5
)

// incompressible reports whether data looks compressed already: it starts
// with the magic bytes of a compressed format (ftyp at 4 for MP4, MOV,
// HEIC, AVIF) and its sampled bytes are close to random, or, for chunks
// large enough to sample, its order-0 entropy is above probeMaxBits. It
// costs a few microseconds, against milliseconds to compress a chunk
// that does not shrink.
func incompressible(data []byte) bool {
	if len(data) < probeMinBytes {
		return false
	}
	magic := len(data) >= 8 && bytes.Equal(data[4:8], []byte("ftyp"))
	for _, m := range compressedMagic {
		magic = magic || bytes.HasPrefix(data, m)
	}
	var hist [256]int
	step := len(data) / probeSlices
	for i := range probeSlices {
		for _, b := range data[i*step : i*step+probeSliceBytes] {
			hist[b]++
		}
	}
	var bits float64
	for _, n := range hist {
		if n > 0 {
			p := float64(n) / probeMinBytes
			bits -= p * math.Log2(p)
		}
	}
	// A sample of 4,096 bytes of random data measures about 7.95 bits
	// per byte; a compressed format's headers and tables lower it.
	if magic {
		return bits > probeMaxBits-0.5
	}
	return bits > probeMaxBits
}
