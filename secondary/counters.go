package secondary

import (
	"sync/atomic"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/report"
)

// applyCounts is what one folder applied and refused since start
// (report.Folder's counters).
type applyCounts struct {
	entries, bytes, refused atomic.Uint64
	reused, fetched         atomic.Uint64 // chunk bytes of applied files: local, from the primary
	listsFetched            atomic.Uint64 // whole chunk lists fetched for deltas (delta.go)
	patched, patchesRefused atomic.Uint64 // chunks built from patches, patches refused (source.go)
}

// count adds committed entries (a batch, or a prefix of one recorded
// before its end): entries[i] was applied or refused as errs(i) says; src
// says where their chunks came from.
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
	for i := range entries {
		c.reused.Add(uint64(src.reused[entries[i].Seq]))
		c.fetched.Add(uint64(src.fetched[entries[i].Seq]))
	}
}

// report fills in fs's counters.
func (c *applyCounts) report(fs *report.Folder) {
	fs.EntriesApplied, fs.BytesApplied, fs.EntriesRefused = c.entries.Load(), c.bytes.Load(), c.refused.Load()
	fs.ChunkBytesReused, fs.ChunkBytesFetched = c.reused.Load(), c.fetched.Load()
	fs.ChunkListsFetched = c.listsFetched.Load()
	fs.ChunksPatched, fs.ChunkPatchesRefused = c.patched.Load(), c.patchesRefused.Load()
}
