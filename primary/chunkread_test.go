package primary

import (
	"container/list"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// TestSentChunksForget: the locations of sent chunks are found until they
// were neither remembered nor looked up for sentChunksIdle.
func TestSentChunksForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sentChunks{m: make(map[chunkKey]sentChunk)}
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
		time.Sleep(sentChunksIdle + time.Second)
		synctest.Wait()
		if _, ok := s.get("data", id); ok {
			t.Error("found after sentChunksIdle unused")
		}
		s.remember("data", "/root", []index.Entry{e}) // usable again
		if _, ok := s.get("data", id); !ok {
			t.Error("not found when remembered after forget")
		}
	})
}

// TestSentChunksKeptWhileRead: on a slow link the chunks of the last
// entries sent are asked for long after they were sent; their locations
// stay while chunks are looked up, so that they are not read and hashed
// again through the index.
func TestSentChunksKeptWhileRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sentChunks{m: make(map[chunkKey]sentChunk)}
		a, b := chunker.ID{1}, chunker.ID{2}
		e := index.Entry{Path: "a/f", Kind: index.KindFile, Size: 20,
			Chunks: []index.ChunkRef{{ID: a, Size: 10}, {ID: b, Size: 10}}, Stat: index.Stat{Ino: 7, CtimeNs: 1}}
		s.remember("data", "/root", []index.Entry{e})
		defer s.idle.Stop()
		for i := range 5 { // 40 s of lookups, 8 s apart
			time.Sleep(sentChunksIdle * 4 / 5)
			synctest.Wait()
			if _, ok := s.get("data", a); !ok {
				t.Fatalf("forgotten %v after the entry was sent, while its chunks are read", time.Duration(i+1)*sentChunksIdle*4/5)
			}
		}
		time.Sleep(sentChunksIdle + time.Second)
		synctest.Wait()
		if _, ok := s.get("data", b); ok {
			t.Error("still remembered after sentChunksIdle unused")
		}
	})
}

// A chunk read takes the writers' locks shared, and a writer that keeps
// its lock does not stall it: past chunkLockWait the read goes ahead
// (checked against the scanned stat), and the file's other chunks no
// longer wait.
func TestChunkReadUnderWriterLock(t *testing.T) {
	dir := t.TempDir()
	data := []byte("<?php $CONFIG = array('maintenance' => true);\n")
	if err := os.WriteFile(filepath.Join(dir, "config.php"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	writer, err := unix.Open(filepath.Join(dir, "config.php"), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(writer)
	reader, err := unix.Open(filepath.Join(dir, "config.php"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(reader)

	// No writer: the locks are taken, and a writer's LOCK_EX waits for them.
	var lockedOut atomic.Bool
	lk := lockChunkFile(context.Background(), reader, &lockedOut)
	if err := unix.Flock(writer, unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Errorf("writer's flock during a chunk read: %v, want EWOULDBLOCK", err)
	}
	lk.Unlock()
	if lockedOut.Load() {
		t.Error("lockedOut set without a writer")
	}

	// A writer that keeps its lock: the read goes ahead without it.
	if err := unix.Flock(writer, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	lk = lockChunkFile(context.Background(), reader, &lockedOut)
	lk.Unlock()
	if !lockedOut.Load() {
		t.Error("lockedOut not set after waiting out a writer's lock")
	}

	var st unix.Stat_t
	if err := unix.Fstat(reader, &st); err != nil {
		t.Fatal(err)
	}
	f := &sentFile{root: dir, path: "config.php", size: int64(len(data)),
		stat: index.Stat{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano()}}
	fc := fileCache{byKey: make(map[fileKey]*list.Element)}
	defer fc.closeIdle()
	for range 2 {
		out, err := fc.readChunk(context.Background(), sentChunk{file: f, size: uint32(len(data))}, nil)
		if err != nil || string(out) != string(data) {
			t.Fatalf("readChunk under a writer's lock: %q, %v", out, err)
		}
	}
	if !f.lockedOut.Load() {
		t.Error("the sent file is not marked locked out")
	}
	// Released: the next read takes the locks again.
	if err := unix.Flock(writer, unix.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.readChunk(context.Background(), sentChunk{file: f, size: uint32(len(data))}, nil); err != nil {
		t.Fatal(err)
	}
	if f.lockedOut.Load() {
		t.Error("still marked locked out after the writer let go")
	}
}
