package watcher

import "context"

// pendingReq asks the run loop which of paths it holds dirty.
type pendingReq struct {
	paths []string
	reply chan []string // buffered, one value
}

// Pending returns those of paths that the watcher will deliver without
// being asked: events were seen for them (or for a directory above them
// whose rescan is queued) and they are not delivered yet. A consumer that
// wants to scan a path again for its own reasons (a file read within the
// scanner's racy window) can leave these to the watcher's batch: scanning
// them now would read a file that is still changing once more than its
// quiet window and max latency allow. A directory's rescan covers its
// subtree, so "" is pending only while the whole folder is to be rescanned.
//
// It returns nil while no inotify instance exists, once Run has returned,
// and when ctx ends.
func (w *Watcher) Pending(ctx context.Context, paths []string) []string {
	if len(paths) == 0 {
		return nil
	}
	req := pendingReq{paths: paths, reply: make(chan []string, 1)}
	select {
	case w.pendingCh <- req:
	case <-ctx.Done():
		return nil
	case <-w.done:
		return nil
	}
	select {
	case got := <-req.reply:
		return got
	case <-ctx.Done():
		return nil
	case <-w.done:
		return nil
	}
}

// pending answers a Pending request from the run loop's state: a path is
// pending if the debouncer holds it or the outbox holds it or an ancestor.
func (l *loop) pending(req pendingReq) {
	var out []string
	for _, p := range req.paths {
		if _, ok := l.deb.items[p]; ok || l.box.covered(p) {
			out = append(out, p)
		}
	}
	req.reply <- out
}
