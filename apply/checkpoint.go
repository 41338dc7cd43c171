package apply

import (
	"context"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/fsys"
)

// Durable is told, during Apply, that the batch's first n entries are
// done: each of results[:n] is final, and every entry among them whose Err
// is nil is durable (its data synced, renamed into place, its directory
// and the directory's replicated metadata synced). It is called from
// Apply's goroutine, with n growing from call to call; results[:n] may be
// read during the call only. Apply waits for it: a caller records and
// acknowledges these entries there, so that files already complete do
// not wait for the rest of a large batch.
type Durable func(n int, results []Result)

// Checkpoints. A group of files is committed once it holds maxPending
// files or maxPendingBytes bytes (so large files are committed every 64
// MiB or sooner, not at the end of a batch of up to 256 MiB). After a
// group is committed, at most every checkpointEvery, the entries before
// the first one still pending are made durable as a whole (the
// directories touched so far get their metadata back and are fsynced)
// and reported to Durable. The period bounds what a checkpoint costs (the
// directories' fsyncs, an index commit and an ack in the caller) to a
// small share of a second, whatever the batch.
const (
	maxPendingBytes = 64 << 20
	checkpointEvery = time.Second
)

// ApplyDurable is Apply, calling durable (if not nil) as entries become
// durable before the end of the batch.
func (f *Folder) ApplyDurable(ctx context.Context, entries []index.Entry, src ChunkSource, known Known, durable Durable) ([]Result, error) {
	return f.apply(ctx, entries, src, known, durable)
}

// checkpoint reports the entries done so far to Durable, at most every
// checkpointEvery: those before the first file still pending (written but
// not committed) and before the entry being applied. It makes their
// directories durable first.
func (b *batch) checkpoint() {
	if b.durable == nil || time.Since(b.lastCheckpoint) < b.f.checkpointEvery {
		return
	}
	n := b.next
	if len(b.pending) > 0 {
		n = min(n, b.pending[0].i)
	}
	if b.committing != nil {
		return // its entries are not durable yet
	}
	if n <= b.reported {
		return
	}
	b.lastCheckpoint = time.Now()
	list := b.touchedDirs()
	for _, d := range list {
		b.restoreDir(d)
	}
	if len(list) > 0 {
		// An fsync per directory, never syncfs: that would also wait for
		// the file being written, in this goroutine.
		if err := fsyncDirs(list); err != nil {
			b.f.log.Error("directories of the batch are not durable", "err", err)
			return // the end of the batch fails them
		}
	}
	for _, d := range list {
		var st unix.Stat_t
		if len(d.entries) == 0 || unix.Fstat(d.fd, &st) != nil {
			continue
		}
		for _, i := range d.entries {
			if i < n && b.results[i].Err == nil {
				b.results[i].Stat = fsys.StatOf(&st)
			}
		}
	}
	b.reported = n
	b.durable(n, b.results)
}
