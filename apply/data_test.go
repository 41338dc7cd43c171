package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
)

// Bad chunk data, or a source that fails midway, leave no temp file and the
// previous version of the target untouched.
func TestApplyBadDataLeavesTargetAlone(t *testing.T) {
	old := content(9, 4000)
	tests := []struct {
		name    string
		corrupt func(t *testing.T, src *memSource, e *index.Entry)
		want    error
	}{
		{"chunk hash", func(t *testing.T, src *memSource, e *index.Entry) {
			src.chunks[e.FileID][1][7] ^= 1
		}, ErrDataMismatch},
		{"short chunk", func(t *testing.T, src *memSource, e *index.Entry) {
			c := src.chunks[e.FileID]
			c[2] = c[2][:len(c[2])-1]
		}, ErrDataMismatch},
		{"long chunk", func(t *testing.T, src *memSource, e *index.Entry) {
			c := src.chunks[e.FileID]
			c[0] = append(bytes.Clone(c[0]), 0)
		}, ErrDataMismatch},
		{"file id", func(t *testing.T, src *memSource, e *index.Entry) {
			c := src.chunks[e.FileID]
			e.FileID[3] ^= 1
			src.chunks[e.FileID] = c
		}, ErrRefused},
		{"total size", func(t *testing.T, src *memSource, e *index.Entry) { e.Size-- }, ErrRefused},
		{"too few chunks", func(t *testing.T, src *memSource, e *index.Entry) {
			c := src.chunks[e.FileID]
			src.chunks[e.FileID] = c[:len(c)-1]
		}, io.ErrUnexpectedEOF},
		{"no space midway", func(t *testing.T, src *memSource, e *index.Entry) {
			src.failAt[e.Path] = 2
			src.failErr = unix.ENOSPC
		}, unix.ENOSPC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, root := openTest(t, Options{}, false)
			target := filepath.Join(root, "d/f")
			if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, old, 0o644); err != nil {
				t.Fatal(err)
			}
			before := lstat(t, target)
			src := newSource()
			e := fileEntry(t, src, "d/f", content(1, 5000), 0o644)
			tc.corrupt(t, src, &e)
			res, err := f.Apply(context.Background(), []index.Entry{e}, src, Known{})
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res[0].Err, tc.want) {
				t.Fatalf("result %v, want %v", res[0].Err, tc.want)
			}
			after := lstat(t, target)
			if after.Ino != before.Ino || !bytes.Equal(readFile(t, target), old) {
				t.Error("target was replaced")
			}
			noTemps(t, root)
		})
	}
}

// A real full file system: the write fails with ENOSPC, no partial file is
// visible, no temp is left, and once there is room the same entry applies.
func TestApplyRealENOSPC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	f, err := Open(mnt, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := newSource()
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 200<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	e := fileEntry(t, src, "big", content(1, 100<<10), 0o644)
	res, err := f.Apply(context.Background(), []index.Entry{e}, src, Known{})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, unix.ENOSPC) {
		t.Fatalf("result %v, want ENOSPC", res[0].Err)
	}
	if _, err := os.Lstat(filepath.Join(mnt, "big")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file visible: %v", err)
	}
	noTemps(t, mnt)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustApply(t, f, src, nil, e)
	if !bytes.Equal(readFile(t, filepath.Join(mnt, "big")), content(1, 100<<10)) {
		t.Error("content differs after retry")
	}
}

// A reader on the secondary while a file is replaced again and again never
// finds it missing, short or mixed.
func TestApplyReaderSeesWholeVersions(t *testing.T) {
	f, root := openTest(t, Options{}, false)
	src := newSource()
	versions := [][]byte{content(1, 40<<10), content(2, 70<<10), content(3, 5<<10)}
	var entries []index.Entry
	for _, v := range versions {
		entries = append(entries, fileEntry(t, src, "f", v, 0o644))
	}
	mustApply(t, f, src, nil, entries[0])
	target := filepath.Join(root, "f")

	var stop atomic.Bool
	var reads atomic.Int64
	var bad atomic.Value
	var wg sync.WaitGroup
	{
		wg.Go(func() {
			for !stop.Load() {
				b, err := os.ReadFile(target)
				if err != nil {
					bad.Store(err.Error())
					return
				}
				if !bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1]) && !bytes.Equal(b, versions[2]) {
					bad.Store(fmt.Sprintf("read %d bytes matching no version", len(b)))
					return
				}
				reads.Add(1)
			}
		})
	}
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; i < 300 && time.Now().Before(deadline) && bad.Load() == nil; i++ {
		mustApply(t, f, src, nil, entries[i%len(entries)])
	}
	stop.Store(true)
	wg.Wait()
	if msg := bad.Load(); msg != nil {
		t.Fatalf("reader: %s", msg)
	}
	if reads.Load() == 0 {
		t.Fatal("reader never ran")
	}
	t.Logf("%d whole reads", reads.Load())
}
