package transport

import (
	"context"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// tunerFeed sends windows of tuneMessages samples to t, each message
// send+work long, with the socket busy for busy of it (negative: unknown).
func tunerFeed(t *codecTuner, windows int, send, work, busy time.Duration, ratio int) {
	now := time.Unix(1000, 0)
	var total time.Duration
	for range windows * (tuneMessages + 1) {
		now = now.Add(send + work)
		total += busy
		t.observe(tuneSample{send: send, work: work, raw: ratio << 20, wire: 1 << 20, now: now, busy: total, busyKnown: busy >= 0})
	}
}

// TestCodecTuner feeds the waits of link-bound, peer-bound and CPU-bound
// streams: the level steps up while the sender waits on Send and the
// socket is busy on the network, not when it waits on the peer; it steps
// down while the sender waits on the workers, one step per window of
// messages, within raw..zstd-3, and stays when neither wait dominates or
// both are negligible. Compression is dropped only if it buys little.
func TestCodecTuner(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name             string
		send, work, busy time.Duration // per message
		ratio            int           // raw bytes per wire byte
		windows          int
		want             codecLevel
	}{
		{"link-bound", 10 * ms, ms, 10 * ms, 4, 1, levelBetter},
		{"link-bound long", 10 * ms, ms, 8 * ms, 4, 5, levelBetter},
		{"peer-bound", 10 * ms, ms, ms, 4, 5, levelFastest},
		{"link unknown", 10 * ms, ms, -1, 4, 5, levelFastest},
		{"cpu-bound, incompressible", ms, 10 * ms, 0, 1, 1, levelRaw},
		{"cpu-bound long, incompressible", 0, 10 * ms, 0, 1, 5, levelRaw},
		{"cpu-bound, compressible", ms, 10 * ms, ms, 4, 5, levelFastest},
		{"balanced", 5 * ms, 4 * ms, 5 * ms, 4, 5, levelFastest},
		{"idle", 100 * time.Microsecond, 0, 0, 4, 5, levelFastest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tu codecTuner
			tunerFeed(&tu, tc.windows, tc.send, tc.work, tc.busy, tc.ratio)
			if got := tu.get(); got != tc.want {
				t.Errorf("after %d windows: %v, want %v", tc.windows, got, tc.want)
			}
		})
	}
	t.Run("one step per window", func(t *testing.T) {
		var tu codecTuner
		tu.level.Store(int32(levelBetter))
		now := time.Unix(1000, 0)
		for range tuneMessages {
			now = now.Add(11 * ms)
			tu.observe(tuneSample{send: ms, work: 10 * ms, raw: 4 << 20, wire: 1 << 20, now: now})
		}
		if tu.get() != levelBetter {
			t.Fatalf("stepped before a full window: %v", tu.get())
		}
		tu.observe(tuneSample{send: ms, work: 10 * ms, raw: 4 << 20, wire: 1 << 20, now: now})
		if tu.get() != levelFastest {
			t.Fatalf("after a CPU-bound window: %v", tu.get())
		}
		tunerFeed(&tu, 1, ms, 10*ms, 0, 1)
		if tu.get() != levelRaw {
			t.Fatalf("after a CPU-bound window of incompressible chunks: %v", tu.get())
		}
		tunerFeed(&tu, 1, 10*ms, 0, 10*ms, 1)
		if tu.get() != levelFastest {
			t.Errorf("a link-bound window after raw: %v, want zstd-fastest", tu.get())
		}
	})
	var none *codecTuner
	none.observe(tuneSample{send: time.Second})
	if none.get() != levelFastest {
		t.Errorf("no tuner: %v", none.get())
	}
}

// TestIncompressible checks the probe on text, random and compressed
// data, with and without a format's magic bytes.
func TestIncompressible(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, randomChunk(3, 64<<10)...)
	mp4 := append([]byte{0, 0, 0, 0x20, 'f', 't', 'y', 'p'}, randomChunk(4, 64<<10)...)
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"text", textChunk(1, 64<<10), false},
		{"text with a zip's magic", append([]byte("PK\x03\x04"), textChunk(1, 64<<10)...), false},
		{"random", randomChunk(2, 64<<10), true},
		{"jpeg", jpeg, true},
		{"mp4", mp4, true},
		{"zstd of text", enc.EncodeAll(textChunk(5, 1<<20), nil), true},
		{"small random", randomChunk(6, probeMinBytes-1), false},
		{"zeros", make([]byte, 64<<10), false},
	}
	for _, tc := range tests {
		if got := incompressible(tc.data); got != tc.want {
			t.Errorf("%s (%d bytes): %v, want %v", tc.name, len(tc.data), got, tc.want)
		}
	}
}

// TestSendChunksLevels serves the same chunks at each level, through a
// shared frame cache: raw sends nothing compressed, zstd-3 fewer bytes
// than zstd fastest, and every peer gets chunks that decode right (the
// cache keeps the levels apart).
func TestSendChunksLevels(t *testing.T) {
	src := newCountingSource()
	ids := framedIDs(src.infoSource)
	s := sharingServer(t, src, 64<<20)
	better, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		t.Fatal(err)
	}
	defer better.Close()
	s.encBetter = better
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	wire := map[codecLevel]int{}
	for _, l := range []codecLevel{levelRaw, levelFastest, levelBetter, levelRaw} {
		var tu codecTuner
		tu.level.Store(int32(l))
		check := checkedSend(t, dec, ids, src.fakeSource)
		var compressed int
		err := s.sendChunks(context.Background(), "webroot", ids, nil, true, &tu, &chunkCounters{}, func(m *ncsyncv1.FetchChunksResponse) error {
			wire[l] += len(m.Frame)
			for _, cd := range m.Chunks {
				wire[l] += len(cd.Data)
				if !cd.Missing && cd.Codec != ncsyncv1.Codec_CODEC_RAW {
					compressed++
				}
			}
			return check(m)
		})
		if err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		if l == levelRaw && compressed > 0 {
			t.Errorf("raw: %d chunks compressed", compressed)
		}
	}
	t.Logf("bytes on the wire: %v", wire)
	if !(wire[levelBetter] < wire[levelFastest] && wire[levelFastest] < wire[levelRaw]) {
		t.Errorf("bytes on the wire by level: %v; want zstd-3 < fastest < raw", wire)
	}
}
