package transport

import (
	"context"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestPackChunksSendsWhenStarved checks that the sender sends what it has
// packed when no further chunk is queued, even though the message is far
// from full: the producer may be waiting for the budget that only sending
// releases. (Well-compressed chunks once deadlocked the pipeline here.)
func TestPackChunksSendsWhenStarved(t *testing.T) {
	s := &Server{lim: DefaultLimits()}
	budget := &byteBudget{limit: 1 << 20, freed: make(chan struct{}, 1)}
	order := make(chan *chunkJob, 64)
	for i := range 32 { // 32 × 64 KiB = 2 MiB read, 32 × 100 bytes to send
		j := getJob(false)
		j.ids = append(j.ids, chunker.ID{byte(i)})
		j.raw, j.comp = make([]byte, 64<<10), make([]byte, 100)
		j.parts = append(j.parts, part{size: 64 << 10, codec: ncsyncv1.Codec_CODEC_ZSTD, wire: j.comp})
		budget.add(j.cost())
		j.done <- struct{}{}
		order <- j
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The producer: more only once the budget allows.
	go func() {
		if budget.wait(ctx) == nil {
			close(order)
		}
	}()
	var sent, msgs int
	err := s.packChunks(ctx, order, budget, nil, &chunkCounters{}, func(m *ncsyncv1.FetchChunksResponse) error {
		sent += len(m.Chunks)
		msgs++
		return nil
	})
	if err != nil || sent != 32 || msgs != 1 {
		t.Errorf("packChunks: %v after %d chunks in %d messages", err, sent, msgs)
	}
}

// TestPackChunksDecodedBound checks that the sender never packs zstd
// chunks that decode to more than MaxResponseDecoded into one message,
// however small they are on the wire: a client refuses such a message.
func TestPackChunksDecodedBound(t *testing.T) {
	s := &Server{lim: DefaultLimits()}
	budget := &byteBudget{limit: 1 << 40, freed: make(chan struct{}, 1)}
	order := make(chan *chunkJob, 64)
	sizes := []int{7 << 20, 15 << 20, 1 << 20, 16 << 20, 16 << 20, 4 << 20, 4 << 20, 4 << 20, 4 << 20, 1}
	for i, size := range sizes { // all ready: nothing makes the sender flush early
		j := getJob(false)
		j.ids = append(j.ids, chunker.ID{byte(i)})
		j.comp = make([]byte, 100)
		j.parts = append(j.parts, part{size: size, codec: ncsyncv1.Codec_CODEC_ZSTD, wire: j.comp})
		j.done <- struct{}{}
		order <- j
	}
	close(order)
	var sent, msgs int
	err := s.packChunks(context.Background(), order, budget, nil, &chunkCounters{}, func(m *ncsyncv1.FetchChunksResponse) error {
		decoded := 0
		for _, cd := range m.Chunks {
			decoded += int(cd.Size)
		}
		if decoded > MaxResponseDecoded {
			t.Errorf("message %d: %d chunks decode to %d bytes, more than %d", msgs, len(m.Chunks), decoded, MaxResponseDecoded)
		}
		sent += len(m.Chunks)
		msgs++
		return nil
	})
	if err != nil || sent != len(sizes) {
		t.Errorf("packChunks: %v after %d chunks in %d messages", err, sent, msgs)
	}
}

// TestJobPoolsApart: a single chunk's job never comes with the buffers of
// a frame's, which the in-flight budget would not count.
func TestJobPoolsApart(t *testing.T) {
	for range 20 {
		f := getJob(true)
		f.raw, f.comp = make([]byte, 0, frameBytes+maxFramedChunk), make([]byte, 0, frameBytes)
		putJob(f)
		if j := getJob(false); cap(j.raw) > maxFramedChunk || cap(j.comp) > maxFramedChunk {
			t.Fatalf("a single chunk's job holds %d + %d bytes of buffers", cap(j.raw), cap(j.comp))
		}
	}
}

// TestFramesWithinEncoderWindow: the largest shared frame is one
// single-segment zstd frame, its whole input within the encoders' window,
// and within what a client decodes.
func TestFramesWithinEncoderWindow(t *testing.T) {
	if frameBytes+maxFramedChunk > encoderWindow || encoderWindow > MaxFrameBytes {
		t.Errorf("frames of up to %d bytes, encoder window %d, client limit %d", frameBytes+maxFramedChunk, encoderWindow, MaxFrameBytes)
	}
	if minFrameBytes <= frameBytes/2 || minFrameBytes >= frameBytes {
		t.Errorf("frames close from %d bytes, up to %d", minFrameBytes, frameBytes)
	}
}
