package secondary

import (
	"sync/atomic"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/status"
)

// applyCounts is what one folder applied and refused since start
// (status.Folder's counters).
type applyCounts struct {
	entries, bytes, refused atomic.Uint64
	reused, fetched         atomic.Uint64 // chunk bytes of applied files: local, from the primary
}

// count adds a committed batch: entries[i] was applied where errs[i] is
// nil and refused where refused(errs[i]); src says where its chunks came
// from.
func (c *applyCounts) count(entries []index.Entry, errs func(i int) (applied, refused bool), src *source) {
	var applied, bytes, refused uint64
	for i := range entries {
		ok, no := errs(i)
		switch {
		case ok:
			applied++
			if e := &entries[i]; e.Kind == index.KindFile && !e.Deleted {
				bytes += uint64(e.Size)
			}
		case no:
			refused++
		}
	}
	c.entries.Add(applied)
	c.bytes.Add(bytes)
	c.refused.Add(refused)
	for _, n := range src.reused {
		c.reused.Add(uint64(n))
	}
	for _, n := range src.fetched {
		c.fetched.Add(uint64(n))
	}
}

// report fills in fs's counters.
func (c *applyCounts) report(fs *status.Folder) {
	fs.EntriesApplied, fs.BytesApplied, fs.EntriesRefused = c.entries.Load(), c.bytes.Load(), c.refused.Load()
	fs.ChunkBytesReused, fs.ChunkBytesFetched = c.reused.Load(), c.fetched.Load()
}
