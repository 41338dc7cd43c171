package primary

import (
	"testing"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// TestSentChunksForget: the locations of sent chunks are found until
// forget, which an idle timer calls once entries stop being sent.
func TestSentChunksForget(t *testing.T) {
	var s sentChunks
	s.m = make(map[chunkKey]sentChunk)
	id := chunker.ID{1, 2, 3}
	e := index.Entry{Path: "a/f", Kind: index.KindFile, Size: 10,
		Chunks: []index.ChunkRef{{ID: id, Size: 10}}, Stat: index.Stat{Ino: 7, CtimeNs: 1}}
	s.remember("data", "/root", []index.Entry{e})
	defer s.idle.Stop()
	c, ok := s.get("data", id)
	if !ok || c.file.path != "a/f" || c.size != 10 {
		t.Fatalf("get after remember: %+v, %v", c, ok)
	}
	if _, ok := s.get("other", id); ok {
		t.Error("a chunk of another folder was found")
	}
	s.forget()
	if _, ok := s.get("data", id); ok {
		t.Error("found after forget")
	}
	s.remember("data", "/root", []index.Entry{e}) // usable again
	if _, ok := s.get("data", id); !ok {
		t.Error("not found when remembered after forget")
	}
}
