package transport

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
)

var phpWords = []string{"<?php", "declare(strict_types=1);", "namespace", "OCA\\Files\\Controller;", "use", "function",
	"public", "private", "static", "return", "$this->", "array(", ");", "if", "else", "foreach", "as", "=>", "null",
	"true", "false", "$request", "$response", "\\OC::$server->get(", "IConfig::class", "/**", " * @param string $path", " */"}

// textChunk returns n bytes of PHP-like text.
func textChunk(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, 0, n+64)
	for len(b) < n {
		b = append(b, phpWords[r.IntN(len(phpWords))]...)
		b = append(b, " \n\t "[r.IntN(4)])
	}
	return b[:n]
}

// randomChunk returns n incompressible bytes.
func randomChunk(seed uint64, n int) []byte {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

func (f *fakeSource) add(data []byte) chunker.ID {
	id := chunker.Sum(data)
	f.chunks[id] = data
	return id
}

// fetchAll fetches ids from folder "webroot" and checks that every chunk
// is src's, or missing where src lacks it.
func fetchAll(t *testing.T, c *Client, src *fakeSource, ids []chunker.ID) {
	t.Helper()
	cs, err := c.FetchChunks(context.Background(), "webroot", ids)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	got, err := readAll(cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("%d chunks, want %d", len(got), len(ids))
	}
	for i, ch := range got {
		want, ok := src.chunks[ids[i]]
		if ch.ID != ids[i] || ch.Missing == ok || !bytes.Equal(ch.Data, want) {
			t.Errorf("chunk %d: id %s missing %v, %d bytes; want %s missing %v, %d bytes", i, ch.ID, ch.Missing, len(ch.Data), ids[i], !ok, len(want))
		}
	}
}

func TestFetchChunks(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	text := src.add(textChunk(1, 64<<10))
	random := src.add(randomChunk(2, 64<<10))
	bigText := src.add(textChunk(3, 3<<20)) // over one message
	tiny := src.add([]byte("x"))
	missing := chunker.Sum([]byte("not there"))
	srv, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})

	fetch := func(t *testing.T, ids ...chunker.ID) {
		t.Helper()
		fetchAll(t, c, src, ids)
	}
	delta := func(t *testing.T, ids ...chunker.ID) (ClientStats, PeerStats) {
		t.Helper()
		c0, s0 := c.Stats(), srv.Stats().Peers["s1"]
		fetch(t, ids...)
		c1, s1 := c.Stats(), srv.Stats().Peers["s1"]
		cd := ClientStats{c1.Chunks - c0.Chunks, c1.Missing - c0.Missing, c1.ChunkBytesRaw - c0.ChunkBytesRaw, c1.ChunkBytesWire - c0.ChunkBytesWire}
		sd := PeerStats{s1.Chunks - s0.Chunks, s1.Missing - s0.Missing, s1.ChunkBytesRaw - s0.ChunkBytesRaw, s1.ChunkBytesWire - s0.ChunkBytesWire}
		if cd != ClientStats(sd) {
			t.Errorf("client stats %+v, server stats %+v", cd, sd)
		}
		return cd, sd
	}

	t.Run("mixed", func(t *testing.T) {
		fetch(t, text, random, missing, bigText, tiny, text, missing)
	})
	t.Run("text goes zstd", func(t *testing.T) {
		st, _ := delta(t, text, bigText)
		if st.Chunks != 2 || st.ChunkBytesRaw != 64<<10+3<<20 || st.ChunkBytesWire*2 > st.ChunkBytesRaw {
			t.Errorf("stats %+v: want 2 chunks compressed to under half", st)
		}
	})
	t.Run("random goes raw", func(t *testing.T) {
		st, _ := delta(t, random, tiny)
		if st.Chunks != 2 || st.ChunkBytesRaw != 64<<10+1 || st.ChunkBytesWire != st.ChunkBytesRaw {
			t.Errorf("stats %+v: want 2 chunks sent raw", st)
		}
	})
	t.Run("missing", func(t *testing.T) {
		st, _ := delta(t, missing)
		if st.Missing != 1 || st.Chunks != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("empty", func(t *testing.T) {
		fetch(t)
	})
}

// TestFetchChunksSplit fetches more ids than one request may carry, from
// two streams at once, with the primary serving one request per peer at a
// time: requests must go out one after another without deadlock.
func TestFetchChunksSplit(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	lim := Limits{MaxFetchIDs: 5, MaxPeerFetches: 1}
	var ids []chunker.ID
	for i := range 23 {
		if i%2 == 0 {
			ids = append(ids, src.add(textChunk(uint64(i), 1000+i)))
		} else {
			ids = append(ids, src.add(randomChunk(uint64(i), 1000+i)))
		}
	}
	_, addr := startServer(t, p.serverTLS(t, "p1"), lim, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), lim)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for g := range errs {
		wg.Go(func() {
			cs, err := c.FetchChunks(context.Background(), "webroot", ids)
			if err != nil {
				errs[g] = err
				return
			}
			defer cs.Close()
			got, err := readAll(cs)
			if err == nil && len(got) != len(ids) {
				t.Errorf("stream %d: %d chunks", g, len(got))
			}
			for i := range got {
				if got[i].ID != ids[i] || !bytes.Equal(got[i].Data, src.chunks[ids[i]]) {
					t.Errorf("stream %d: chunk %d differs", g, i)
				}
			}
			errs[g] = err
		})
	}
	within(t, 20*time.Second, "three concurrent chunk streams", wg.Wait)
	for g, err := range errs {
		if err != nil {
			t.Errorf("stream %d: %v", g, err)
		}
	}
}

// TestFetchChunksCompressible fetches chunks that compress so well that
// the in-flight budget fills long before a message does (see
// TestPackChunksSendsWhenStarved).
func TestFetchChunksCompressible(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	var ids []chunker.ID
	for i := range 300 {
		ids = append(ids, src.add(bytes.Repeat([]byte(fmt.Sprintf("line %d of a very repetitive file\n", i)), 2000)))
	}
	srv, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	within(t, 30*time.Second, "fetch", func() {
		cs, err := c.FetchChunks(context.Background(), "webroot", ids)
		if err != nil {
			t.Error(err)
			return
		}
		defer cs.Close()
		got, err := readAll(cs)
		if err != nil || len(got) != len(ids) {
			t.Errorf("%d chunks, %v", len(got), err)
		}
	})
	if st := srv.Stats().Peers["s1"]; st.ChunkBytesWire*50 > st.ChunkBytesRaw {
		t.Errorf("stats %+v: want a ratio over 50", st)
	}
}

// TestFetchChunksDecodedBound fetches large chunks that compress so well
// that a message of targetMessageBytes on the wire would decode to far
// more than a client accepts (MaxResponseDecoded): the server packs them
// within that bound, and the client takes them all.
func TestFetchChunksDecodedBound(t *testing.T) {
	p := cluster(t)
	src := newFakeSource()
	var ids []chunker.ID
	for i := range 40 {
		ids = append(ids, src.add(bytes.Repeat([]byte(fmt.Sprintf("chunk %d repeats\n", i)), (1<<20)/16)))
	}
	_, addr := startServer(t, p.serverTLS(t, "p1"), Limits{}, src)
	c := dial(t, addr, p.clientTLS(t, "s1"), Limits{})
	fetchAll(t, c, src, ids)
}
