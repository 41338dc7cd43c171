package secondary

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
)

// Skipped entries. An entry whose chunks the primary no longer holds
// (errChunkGone: its file changed after it was journaled) cannot be
// applied, and a newer entry for its path replaces it. This node goes on
// with the entries after it, so that the primary keeps sending and the
// newer entry arrives; but until an entry with a higher sequence for that
// path (a newer version, a deletion, a parent deleted or no longer a
// directory) is applied or refused, this node holds the path's older
// content. So the position it records and acknowledges as durable stays
// below the oldest skipped entry still pending, and jumps to what was
// processed once none is. An ack carries both: Seq, the durable position,
// which barriers, pauses and lag go by; Processed, which only moves the
// primary's send window.
//
// A new session (a reconnect, a restart) starts from the durable position:
// the primary sends the skipped entry again, and the ones after it, which
// the index holds already and are not written again (see plan, batch.go).
// If a skip is still pending when everything received has been processed and
// nothing new arrives for a while (the file changed back, so no newer
// entry is journaled, or the primary has not journaled it yet), the
// session ends after a backoff (SkipRetryMin doubling up to SkipRetryMax)
// so that the primary sends again from the durable position.

// errSkipPending ends a session to have a skipped entry sent again.
var errSkipPending = errors.New("an entry skipped because the primary had changed its file is still pending; asking for it again")

// skips is a folder's pending skipped entries, for the current session.
type skips struct {
	mu        sync.Mutex
	pending   map[string]uint64 // path → sequence of its oldest skipped entry not superseded
	processed uint64            // the last entry processed in this session (0: none yet)
	logged    map[string]bool   // paths whose skip was logged, until it clears (across sessions)
}

// begin starts a session: the primary sends from the durable position,
// so every pending skip comes again.
func (k *skips) begin() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pending, k.processed = nil, 0
}

// note takes the outcome of entries es (in order, results rs, the last
// processed) and returns the durable position after them, at least pos
// (the one recorded): the last entry's sequence, or just below the oldest
// skip still pending. Nothing changes until commit is called, once the
// entries are recorded; it returns the paths skipped for the first time
// (to log) and whether the last pending skip was superseded.
func (k *skips) note(es []index.Entry, rs []apply.Result, pos uint64) (durable uint64, commit func() (newSkips []string, cleared bool)) {
	k.mu.Lock()
	pending, processed := maps.Clone(k.pending), k.processed
	k.mu.Unlock()
	if pending == nil {
		pending = make(map[string]uint64)
	}
	var skipped, superseded []string
	for i, e := range es {
		if errors.Is(rs[i].Err, errChunkGone) {
			if s, ok := pending[e.Path]; !ok || e.Seq < s {
				pending[e.Path] = e.Seq
			}
			skipped = append(skipped, e.Path)
			continue
		}
		// Applied or refused: it replaces the older versions of its path,
		// and, when it is no directory, whatever lay beneath it.
		for p, s := range pending {
			if s <= e.Seq && (p == e.Path || (e.Deleted || e.Kind != index.KindDir) && strings.HasPrefix(p, e.Path+"/")) {
				delete(pending, p)
				superseded = append(superseded, p)
			}
		}
	}
	if n := len(es); n > 0 {
		processed = max(processed, es[n-1].Seq)
	}
	durable = max(pos, processed)
	for _, s := range pending {
		durable = min(durable, s-1)
	}
	return max(durable, pos), func() (newSkips []string, cleared bool) {
		k.mu.Lock()
		defer k.mu.Unlock()
		had := len(k.pending) > 0
		k.pending, k.processed = pending, max(k.processed, processed)
		if k.logged == nil {
			k.logged = make(map[string]bool)
		}
		for _, p := range superseded {
			delete(k.logged, p)
		}
		for _, p := range skipped {
			if _, ok := pending[p]; ok && !k.logged[p] {
				k.logged[p] = true
				newSkips = append(newSkips, p)
			}
		}
		return newSkips, had && len(pending) == 0
	}
}

// processedTo is the last entry processed in this session, at least pos.
func (k *skips) processedTo(pos uint64) uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return max(pos, k.processed)
}

// oldest returns a pending skip's path, if any.
func (k *skips) oldest() (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	path, at := "", uint64(0)
	for p, s := range k.pending {
		if at == 0 || s < at {
			path, at = p, s
		}
	}
	return path, at != 0
}

// processedTo is the last entry of folder processed in this session, at
// least its durable position.
func (s *Secondary) processedTo(folder string) (pos, processed uint64, err error) {
	pos, err = s.db.Position(folder)
	if err != nil {
		return 0, 0, err
	}
	return pos, s.folders[folder].skips.processedTo(pos), nil
}

// skipRetry is the wait before a session with a pending skip and nothing
// left to apply ends (see watchSkips).
type skipRetry struct {
	mu   sync.Mutex
	wait time.Duration // 0: the minimum
}

func (r *skipRetry) next(lo time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wait < lo {
		r.wait = lo
	}
	return r.wait
}

func (r *skipRetry) grow(hi time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wait = min(2*r.wait, hi)
}

func (r *skipRetry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wait = 0
}

// pendingSkip returns a folder with a pending skip and its path.
func (s *Secondary) pendingSkip() (folder, path string, ok bool) {
	for _, id := range s.order {
		if p, ok := s.folders[id].skips.oldest(); ok {
			return id, p, true
		}
	}
	return "", "", false
}

// watchSkips ends the session (errSkipPending) once a skip is pending,
// everything received was processed (busy is zero), and nothing arrived
// for the retry wait. moved is signalled whenever a batch arrives or is
// done.
func (s *Secondary) watchSkips(ctx context.Context, busy *atomic.Int64, moved <-chan struct{}) error {
	var timer <-chan time.Time
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-moved:
			if t != nil {
				t.Stop()
				t, timer = nil, nil
			}
			if _, _, ok := s.pendingSkip(); ok && busy.Load() == 0 {
				t = time.NewTimer(s.skipRetry.next(s.opts.SkipRetryMin))
				timer = t.C
			}
		case <-timer:
			t, timer = nil, nil
			folder, path, ok := s.pendingSkip()
			if !ok || busy.Load() > 0 {
				continue
			}
			s.skipRetry.grow(s.opts.SkipRetryMax)
			s.skipRetries.Add(1)
			return fmt.Errorf("folder %q, %q: %w", folder, path, errSkipPending)
		}
	}
}
