package watcher

import (
	"container/heap"
	"time"
)

// debouncer holds the dirty paths that are not yet due. A path is due when
// it has been quiet (no new event) for the quiet window, or when it has been
// dirty for maxLatency even if events keep coming, so a file that is written
// continuously is still read now and then. It keeps no clock of its own:
// every method takes the current time, which makes it pure and lets the
// tests drive it with fake time. Not safe for concurrent use.
type debouncer struct {
	quiet, maxLatency time.Duration
	items             map[string]*dirty
	queue             dirtyHeap
	seq               uint64 // insertion order, a deterministic tie-break
}

// dirty is one pending path.
type dirty struct {
	path  string
	first time.Time // first event since the path was last emitted
	due   time.Time // min(last event + quiet, first + maxLatency)
	seq   uint64
	index int // in the heap
}

func newDebouncer(quiet, maxLatency time.Duration) *debouncer {
	return &debouncer{quiet: quiet, maxLatency: maxLatency, items: make(map[string]*dirty)}
}

// touch records an event for path at now.
func (d *debouncer) touch(path string, now time.Time) {
	if it, ok := d.items[path]; ok {
		due := now.Add(d.quiet)
		if limit := it.first.Add(d.maxLatency); due.After(limit) {
			due = limit
		}
		if due.After(it.due) {
			it.due = due
			heap.Fix(&d.queue, it.index)
		}
		return
	}
	due := now.Add(d.quiet)
	if limit := now.Add(d.maxLatency); due.After(limit) {
		due = limit
	}
	d.seq++
	it := &dirty{path: path, first: now, due: due, seq: d.seq}
	d.items[path] = it
	heap.Push(&d.queue, it)
}

// len is the number of pending paths.
func (d *debouncer) len() int { return len(d.queue) }

// nextDue reports when the earliest pending path becomes due.
func (d *debouncer) nextDue() (time.Time, bool) {
	if len(d.queue) == 0 {
		return time.Time{}, false
	}
	return d.queue[0].due, true
}

// popDue removes and returns the paths due at now, earliest first.
func (d *debouncer) popDue(now time.Time) []string {
	var out []string
	for len(d.queue) > 0 && !d.queue[0].due.After(now) {
		it := heap.Pop(&d.queue).(*dirty)
		delete(d.items, it.path)
		out = append(out, it.path)
	}
	return out
}

// drain removes and returns every pending path, earliest due first.
func (d *debouncer) drain() []string {
	out := make([]string, 0, len(d.queue))
	for len(d.queue) > 0 {
		it := heap.Pop(&d.queue).(*dirty)
		out = append(out, it.path)
	}
	clear(d.items)
	return out
}

// clear forgets every pending path (a whole-folder rescan covers them).
func (d *debouncer) clear() {
	d.queue = nil
	d.items = make(map[string]*dirty)
}

// dirtyHeap orders pending paths by due time, then by first insertion.
type dirtyHeap []*dirty

func (h dirtyHeap) Len() int { return len(h) }
func (h dirtyHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h dirtyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *dirtyHeap) Push(x any) {
	it := x.(*dirty)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *dirtyHeap) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return it
}
