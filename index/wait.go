package index

import "context"

// Wait blocks until Head(folder) > after, ctx ends (returning ctx.Err()) or
// the DB is closed (returning an error). Commits that raise a folder's head
// wake its waiters; there is no polling.
func (db *DB) Wait(ctx context.Context, folder string, after uint64) error {
	if err := validFolder(folder); err != nil {
		return err
	}
	for {
		// Take the channel before reading the head: a commit after the read
		// closes this channel, so no wake-up is lost.
		ch := db.waitChan(folder)
		head, err := db.Head(folder)
		if err != nil {
			return err
		}
		if head > after {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// closedChan is handed out after Close so Wait returns at once.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (db *DB) waitChan(folder string) chan struct{} {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return closedChan
	}
	ch, ok := db.waiters[folder]
	if !ok {
		ch = make(chan struct{})
		db.waiters[folder] = ch
	}
	return ch
}

// notify wakes folder's waiters after a commit that raised its head.
func (db *DB) notify(folder string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if ch, ok := db.waiters[folder]; ok {
		close(ch)
		delete(db.waiters, folder)
	}
}
