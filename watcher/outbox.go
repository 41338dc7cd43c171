package watcher

// outbox holds the paths that are due, in order, until the consumer takes
// them, at most max per Batch. A path whose ancestor directory (or the whole
// folder, "") is already waiting is not added: the ancestor's rescan, which
// happens after the path's events, covers it. Likewise a path already
// waiting is not added twice.
//
// Positions count every path ever queued (added) and ever handed over
// (sent); Flush waits until sent reaches the position of the last path that
// was dirty when it was called. Invariant: added-sent == len(queue).
//
// Batches share queue's backing array, cut to their own length and
// capacity; queued entries are never overwritten, so a consumer may keep
// the slice. Not safe for concurrent use.
type outbox struct {
	max      int
	queue    []string
	waiting  map[string]struct{}
	overflow bool // the next batch follows an overflow
	added    uint64
	sent     uint64
}

func newOutbox(max int) *outbox {
	return &outbox{max: max, waiting: make(map[string]struct{})}
}

// add queues p unless it or an ancestor is already waiting.
func (o *outbox) add(p string) {
	if o.covered(p) {
		return
	}
	if p == "" {
		o.wholeFolder(false)
		return
	}
	o.queue = append(o.queue, p)
	o.waiting[p] = struct{}{}
	o.added++
}

// covered reports whether p or one of its ancestors is waiting.
func (o *outbox) covered(p string) bool {
	if len(o.waiting) == 0 {
		return false
	}
	_, ok := o.waiting[p]
	return ok || hasAncestorIn(p, o.waiting)
}

// wholeFolder replaces everything waiting by "" (rescan the whole folder),
// which takes the position of the last waiting path so that a Flush waiting
// for any of them is satisfied when "" is sent.
func (o *outbox) wholeFolder(overflow bool) {
	o.overflow = o.overflow || overflow
	if len(o.queue) == 1 && o.queue[0] == "" {
		return
	}
	if len(o.queue) > 0 {
		o.sent = o.added - 1
	} else {
		o.added++
	}
	o.queue = []string{""}
	o.waiting = map[string]struct{}{"": {}}
}

// len is the number of waiting paths.
func (o *outbox) len() int { return len(o.queue) }

// head returns the next batch to send, if any.
func (o *outbox) head() (Batch, bool) {
	if len(o.queue) == 0 {
		return Batch{}, false
	}
	n := min(len(o.queue), o.max)
	return Batch{Paths: o.queue[:n:n], Overflow: o.overflow}, true
}

// delivered records that the first n waiting paths were sent.
func (o *outbox) delivered(n int) {
	for _, p := range o.queue[:n] {
		delete(o.waiting, p)
	}
	o.sent += uint64(n)
	o.overflow = false
	if n == len(o.queue) {
		o.queue = nil // let the consumer own the old array
		return
	}
	o.queue = o.queue[n:]
}
