package primary

import "github.com/ncsync/ncsync/index"

// traffic is what one folder's journal sent a peer since start, and what
// the peer reported it refused of it (report.PeerFolder's counters).
type traffic struct {
	entries uint64 // entries sent
	bytes   uint64 // sizes of the files among them
	refused uint64 // entries the peer refused (bad input, its ignore patterns)
	deltas  uint64 // entries whose chunk list went as a delta (delta.go)
}

// sent counts a batch of folder sent to the peer, deltas of its entries
// with their chunk lists as deltas.
func (ps *peer) sent(folder string, entries []index.Entry, deltas int) {
	var n uint64
	for i := range entries {
		if e := &entries[i]; e.Kind == index.KindFile && !e.Deleted {
			n += uint64(e.Size)
		}
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	t := ps.traffic[folder]
	t.entries += uint64(len(entries))
	t.bytes += n
	t.deltas += uint64(deltas)
	ps.traffic[folder] = t
}

// refused counts entries of folder the peer refused; ps.mu is held.
func (ps *peer) refused(folder string, n int) {
	if n == 0 {
		return
	}
	t := ps.traffic[folder]
	t.refused += uint64(n)
	ps.traffic[folder] = t
}
