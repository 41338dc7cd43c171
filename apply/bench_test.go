package apply

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// BenchmarkApplySmallFiles applies 1,000 new files of 16 KiB per Apply
// call (an initial copy or an upgrade's many small files), durably.
func BenchmarkApplySmallFiles(b *testing.B) {
	const files, size = 1000, 16 << 10
	for _, mode := range []SyncMode{SyncFile, SyncFS} {
		b.Run(mode.String(), func(b *testing.B) {
			f, _ := openTest(b, Options{Sync: mode}, false)
			src := newSource()
			data := make([][]byte, files)
			for i := range data {
				data[i] = content(byte(i), size)
			}
			batch := make([]index.Entry, files)
			b.SetBytes(files * size)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer()
				for i := range batch {
					batch[i] = fileEntry(b, src, fmt.Sprintf("r%d/d%d/f%d", n, i%20, i), data[i], 0o644)
				}
				n++
				b.StartTimer()
				res, err := f.Apply(context.Background(), batch, src, Known{})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range res {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			}
			b.ReportMetric(float64(n*files)/b.Elapsed().Seconds(), "files/s")
		})
	}
}

// BenchmarkCreateFilesBaseline is the floor under BenchmarkApplySmallFiles
// on this file system: create, write and rename 1,000 files of 16 KiB with
// no verification and no durability at all (what rsync does).
func BenchmarkCreateFilesBaseline(b *testing.B) {
	const files, size = 1000, 16 << 10
	root := b.TempDir()
	dfd, err := unix.Open(root, dirFlags, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(dfd)
	data := content(1, size)
	b.SetBytes(files * size)
	n := 0
	for b.Loop() {
		for i := range files {
			name := fmt.Sprintf("r%d-f%d", n, i)
			fd, err := unix.Openat(dfd, name+".tmp", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			if err := writeAll(fd, data); err != nil {
				b.Fatal(err)
			}
			_ = unix.Close(fd)
			if err := unix.Renameat(dfd, name+".tmp", dfd, name); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
	b.ReportMetric(float64(n*files)/b.Elapsed().Seconds(), "files/s")
}
