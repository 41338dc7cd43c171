package apply

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
)

// localSource serves a file's chunks as a secondary does: those the
// previous version at its path holds are read from that file and hashed
// (verified), the others come from memory (the primary's). With prior set,
// its readers are PriorReaders, and Apply copies the chunks the previous
// version holds instead of asking for them.
type localSource struct {
	*priorSource
	f        *Folder
	prior    bool
	readByte int64 // bytes read from local files
}

func (s *localSource) Chunks(ctx context.Context, e index.Entry) (ChunkReader, error) {
	rd, err := s.priorSource.Chunks(ctx, e)
	if err != nil {
		return nil, err
	}
	pr := rd.(*priorReader)
	_, offs := pr.Prior()
	lr := &localReader{priorReader: pr, s: s, offs: offs}
	if s.prior {
		return lr, nil
	}
	return verifiedOnly{lr}, nil
}

type localReader struct {
	*priorReader
	s    *localSource
	offs []int64
	buf  []byte
}

func (r *localReader) NextVerified() ([]byte, chunker.ID, error) {
	k := r.i
	if k >= len(r.offs) || r.offs[k] < 0 {
		data, err := r.memReader.Next()
		if err != nil {
			return nil, chunker.ID{}, err
		}
		return data, chunker.Sum(data), nil
	}
	ref := r.e.Chunks[k]
	r.buf = growTo(r.buf, int(ref.Size))
	if err := r.s.f.ReadAt(r.e.Path, r.offs[k], r.buf); err != nil {
		return nil, chunker.ID{}, err
	}
	r.s.readByte += int64(ref.Size)
	r.i++
	return r.buf, chunker.Sum(r.buf), nil
}

// cpuTime is the user and system CPU time of the process so far, in ns.
func cpuTime(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// verifiedOnly hides Prior and Skip: the path without the previous version.
type verifiedOnly struct{ r *localReader }

func (v verifiedOnly) Next() ([]byte, error) {
	data, _, err := v.r.NextVerified()
	return data, err
}
func (v verifiedOnly) NextVerified() ([]byte, chunker.ID, error) { return v.r.NextVerified() }
func (v verifiedOnly) Close() error                              { return v.r.Close() }

// BenchmarkPriorEdit applies an edit of a 256 MiB file whose previous
// version ncsync wrote (a 4 KiB change in the middle, 100 bytes inserted
// at the front), durably, the chunks of the previous version read and
// hashed (verified) or copied by the kernel from it (prior). read-B/op is
// what was read from the previous version into memory, cpu-ms/op the
// process's CPU time (user and system).
func BenchmarkPriorEdit(b *testing.B) {
	const size = 256 << 20
	old := content(1, size)
	for _, ed := range edits[:2] {
		want := ed.edit(old)
		for _, mode := range []string{"verified", "prior"} {
			b.Run(fmt.Sprintf("%s/%s", ed.name, mode), func(b *testing.B) {
				f, _ := openTest(b, Options{}, false)
				src := &localSource{priorSource: newPriorSource(), f: f, prior: mode == "prior"}
				e1 := fileEntryCut(b, src.memSource, "big", old, 0o644, chunker.DefaultConfig())
				e2 := fileEntryCut(b, src.memSource, "big", want, 0o644, chunker.DefaultConfig())
				b.SetBytes(size)
				var read, cpu int64
				for b.Loop() {
					b.StopTimer()
					if r := applyPrior(b, f, src.priorSource, src.stat["big"], e1); r.Err != nil {
						b.Fatal(r.Err)
					}
					src.readByte = 0
					cpu0 := cpuTime(b)
					b.StartTimer()
					res, err := f.Apply(context.Background(), []index.Entry{e2}, src, Known{LastWritten: []index.Stat{src.stat["big"]}})
					b.StopTimer()
					if err != nil || res[0].Err != nil {
						b.Fatal(err, res[0].Err)
					}
					src.prev["big"], src.stat["big"] = e2, res[0].Stat
					read += src.readByte
					cpu += cpuTime(b) - cpu0
					b.StartTimer()
				}
				b.ReportMetric(float64(read)/float64(b.N), "read-B/op")
				b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
