package secondary

import (
	"errors"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/transport"
)

// Acknowledging as files become durable. A batch is recorded in the index
// and acknowledged in prefixes: whenever apply reports that its first
// entries are durable (apply.Durable, at most every second, after a group
// of files was committed), and at its end. A prefix ends before the first
// entry that failed for a reason that may pass (I/O, no space, a local
// change that could not be kept, a session that ended): that entry and
// every later one are sent again. Refused entries (bad input) are inside
// the prefix, reported once, in the ack that covers them.
//
// So an ack for sequence S keeps its meaning: every entry up to S is
// durably applied or was refused, whether S ends a batch or not. An entry
// skipped because the primary no longer holds its chunks holds S below
// it until a newer version of its path is applied (skips.go); the ack's
// Processed then goes past it, for the primary's window only. The
// primary's window counts a batch as acknowledged only once an ack covers
// its last entry; a barrier or a pause waits for an ack at or past its
// point, so an ack inside a batch brings it closer and never past what
// is durable. A paused node's hold point ends a batch (see package
// primary): the pause is established only by the ack at the batch's end.

// batchRecord records the prefixes of one batch and acknowledges them.
type batchRecord struct {
	s     *Secondary
	f     *folder
	b     transport.Batch
	src   *source
	start time.Time
	ack   func(transport.Ack) error // nil: no acks before the end

	done     int   // entries recorded so far
	firstErr error // of the entry a prefix stopped at
}

// durable implements apply.Durable: it records and acknowledges the
// entries done so far.
func (r *batchRecord) durable(n int, results []apply.Result) {
	a, err := r.record(results, n)
	if err != nil {
		r.s.log.Warn("could not record applied entries; they are recorded at the end of the batch", "folder", r.b.Folder, "err", err)
		return
	}
	if a.Processed == 0 || r.ack == nil {
		return
	}
	if err := r.ack(a); err != nil {
		r.s.log.Debug("ack inside a batch not sent", "folder", r.b.Folder, "seq", a.Seq, "err", err)
	}
}

// record records the entries from the last prefix up to n, or up to the
// first one among them that failed for a reason that may pass. It returns
// the ack for them (Processed zero if nothing new was recorded).
func (r *batchRecord) record(results []apply.Result, n int) (transport.Ack, error) {
	s, b := r.s, r.b
	a := transport.Ack{Folder: b.Folder}
	from := r.done
	end := from
	for ; end < n && r.firstErr == nil; end++ {
		var refused *apply.RefusedError
		switch err := results[end].Err; {
		case err == nil:
		case errors.Is(err, errChunkGone):
			// Superseded on the primary: the newer entry has a higher
			// sequence. Processed, not durable (skips.go).
		case errors.Is(err, errIgnoredHere):
			e := b.Entries[end]
			s.log.Warn("refused an entry that matches this node's ignore patterns; the local path is kept", "folder", b.Folder,
				"path", e.Path, "seq", e.Seq)
			a.Failures = append(a.Failures, transport.Failure{Path: e.Path, Seq: e.Seq, Message: err.Error()})
			r.f.ignored.Add(1)
		case errors.As(err, &refused):
			e := b.Entries[end]
			s.log.Warn("refused entry from primary", "folder", b.Folder, "path", e.Path, "seq", e.Seq, "err", err)
			a.Failures = append(a.Failures, transport.Failure{Path: e.Path, Seq: e.Seq, Message: err.Error()})
		default:
			r.firstErr = err
		}
		if r.firstErr != nil {
			break
		}
	}
	if end == from {
		return a, nil
	}
	var durable uint64
	var commit func() ([]string, bool)
	err := s.db.Update(b.Folder, func(tx *index.Tx) error {
		for i, e := range b.Entries[from:end] {
			res := results[from+i]
			if res.Err != nil {
				// Refused (or superseded): remembered until the path is
				// stored again, for promote (rejoin_handover.go).
				if errors.As(res.Err, new(*apply.RefusedError)) {
					if err := tx.NoteRefused(e.Path, e.Seq, res.Err.Error()); err != nil {
						return err
					}
				}
				continue
			}
			e.Stat = res.Stat
			if err := tx.Store(e); err != nil {
				return err
			}
			if err := tx.ClearRefused(e.Path); err != nil {
				return err
			}
		}
		durable, commit = r.f.skips.note(b.Entries[from:end], results[from:end], tx.Position())
		return tx.SetPosition(durable)
	})
	if err != nil {
		return transport.Ack{}, err
	}
	newSkips, cleared := commit()
	for _, p := range newSkips {
		s.log.Info("skipped an entry the primary has changed since; the position acknowledged stays below it until the newer version is applied",
			"folder", b.Folder, "path", p)
	}
	if cleared {
		s.skipRetry.reset()
	}
	r.done = end
	r.f.counts.count(b.Entries[from:end], func(i int) (applied, refused bool) {
		err := results[from+i].Err
		return err == nil, errors.Is(err, errIgnoredHere) || errors.As(err, new(*apply.RefusedError))
	}, r.src)
	if s.opts.OnApplied != nil {
		took := time.Since(r.start)
		for i, e := range b.Entries[from:end] {
			s.opts.OnApplied(Applied{Folder: b.Folder, Entry: e, Err: results[from+i].Err,
				Fetched: r.src.fetched[e.Seq], Reused: r.src.reused[e.Seq], Took: took})
		}
	}
	a.Seq, a.Processed = durable, b.Entries[end-1].Seq
	return a, nil
}

// restat stores again, with their stat at the end of the batch, the
// directory entries recorded by an earlier prefix: their children, written
// after, changed it.
func (r *batchRecord) restat(results []apply.Result, upTo int) error {
	b := r.b
	var dirs []int
	for i, e := range b.Entries[:upTo] {
		if e.Kind == index.KindDir && !e.Deleted && results[i].Err == nil && results[i].Stat != (index.Stat{}) {
			dirs = append(dirs, i)
		}
	}
	if len(dirs) == 0 {
		return nil
	}
	return r.s.db.Update(b.Folder, func(tx *index.Tx) error {
		for _, i := range dirs {
			e := b.Entries[i]
			e.Stat = results[i].Stat
			if err := tx.Store(e); err != nil {
				return err
			}
		}
		return nil
	})
}
