package secondary

import (
	"context"
	"fmt"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/stage"
	"github.com/ncsync/ncsync/transport"
)

// One batch, top to bottom: received from the primary (session.go),
// planned from one read of the index (plan), its chunks fetched from local
// files and the primary (source.go), applied (package apply), then
// recorded in the index and acknowledged as its prefixes become durable
// (record.go).

// applyBatch applies one batch and records it durably, reading chunks
// from pre if not nil (made by prepare for this batch), and from stash
// first when it is not nil. It returns the ack to send for its
// end; ack (if not nil) is called for the prefixes that become durable
// before (see record.go). Entries refused as bad input are skipped and
// reported in the acks; any other failure stops the batch at the first
// failed entry, so it is sent again. The prefix before that entry is
// recorded even then, and so is the prefix applied before a session ended.
func (s *Secondary) applyBatch(ctx context.Context, c *transport.Client, b transport.Batch, stash *stage.Stage, ack func(transport.Ack) error, pre *source) (transport.Ack, error) {
	if pre != nil {
		defer pre.close()
	}
	f, ok := s.folders[b.Folder]
	if !ok {
		return transport.Ack{}, notReplicated(b.Folder)
	}
	f.applyMu.Lock() // no repair until the index holds what is written (heal.go)
	defer f.applyMu.Unlock()
	start := time.Now()

	pl, err := s.plan(f, b.Entries)
	if err != nil {
		return transport.Ack{}, err
	}
	src := pre
	if src == nil {
		src = newSource(ctx, s, c, b.Folder, pl.work, stash)
		defer src.close()
	}
	rec := &batchRecord{s: s, f: f, b: b, src: src, start: start, ack: ack}
	results, applyErr := pl.apply(ctx, f.w, src, rec.durable)
	applied := time.Since(start)

	early := rec.done
	a, err := rec.record(results, len(results))
	if err == nil && early > 0 {
		err = rec.restat(results, early)
	}
	if err != nil {
		return transport.Ack{}, err
	}
	if applyErr != nil {
		return transport.Ack{}, fmt.Errorf("apply batch of folder %q: %w", b.Folder, applyErr)
	}
	n, firstErr := rec.done, rec.firstErr
	took := time.Since(start)
	s.log.Debug("applied batch", "folder", b.Folder, "entries", n, "seq", b.Entries[len(b.Entries)-1].Seq, "head", b.Head, "took", took, "applied", applied, "waited", src.waited)
	s.noteHead(b)
	f.mu.Lock()
	if firstErr != nil {
		f.lastErr = firstErr.Error()
	} else if len(a.Failures) == 0 {
		f.lastErr = ""
	}
	f.storeFull = nil
	if firstErr != nil {
		f.storeFull = storeFull(b.Entries[n], firstErr) // local.go
	}
	f.mu.Unlock()
	if firstErr != nil {
		e := b.Entries[n]
		return transport.Ack{}, fmt.Errorf("apply %q (seq %d) in folder %q: %w; will retry", e.Path, e.Seq, b.Folder, firstErr)
	}
	f.resumed.Store(true)
	if n > 0 && b.Head > 0 && b.Entries[n-1].Seq >= b.Head {
		s.sweepKept(f) // caught up: no kept temp file can be needed
	}
	if a.Processed == 0 && n > 0 { // all of it was acknowledged on the way
		pos, processed, err := s.processedTo(b.Folder)
		if err != nil {
			return transport.Ack{}, err
		}
		a.Seq, a.Processed = pos, processed
	}
	return a, nil
}

// checkBatch refuses a batch of a folder this node does not replicate, or
// with an entry at or before the folder's position or what this session
// processed.
func (s *Secondary) checkBatch(b transport.Batch) error {
	if _, ok := s.folders[b.Folder]; !ok {
		return notReplicated(b.Folder)
	}
	_, processed, err := s.processedTo(b.Folder)
	if err != nil {
		return err
	}
	return checkSeqs(b.Folder, b.Entries, processed)
}

func notReplicated(folder string) error {
	return fmt.Errorf("primary sent folder %q, which this node does not replicate", folder)
}

// checkSeqs refuses entries at or before pos, the folder's position or
// what this session processed past it.
func checkSeqs(folder string, entries []index.Entry, pos uint64) error {
	for _, e := range entries {
		if e.Seq <= pos {
			return fmt.Errorf("primary replayed sequence %d of folder %q, already applied up to %d", e.Seq, folder, pos)
		}
	}
	return nil
}

// batchPlan is a batch as this node's index sees it before the batch is
// applied: which of its entries to apply, and what apply needs to know
// about them.
type batchPlan struct {
	// results has a slot for each entry of the batch. Those of the
	// entries not applied are final already: refused because they match
	// this node's ignore patterns (ignored.go), or held (see plan).
	results []apply.Result
	work    []index.Entry // the entries to apply, in order
	at      []int         // the slot in results of each entry of work
	known   apply.Known   // for work: what ncsync last wrote, the directories
}

// plan reads, in one transaction of f's index, what applying entries
// needs:
//   - the folder's position: an entry at or before it, or before what
//     this session processed past it (skips.go), is a replay, and refuses
//     the batch;
//   - for each entry not ignored here, what ncsync last wrote at its path
//     (the stat recorded with the path's entry; zero if it never wrote it
//     or last removed it), which apply compares with the disk to find
//     local changes. Without a conflict store (no LocalKeeper) local
//     changes are not looked for;
//   - which entries this node holds already: the same sequence, kind,
//     content and metadata in its index. Those occur after a rejoin,
//     when the new primary sends its whole journal again and most of it
//     is history both share, and when the entries after a skipped one are
//     sent again (skips.go); they get their recorded stat back without
//     touching the disk. Otherwise every entry is newer than the index's
//     head, and none is looked for;
//   - the replicated metadata of the directories the entries are written
//     in (dirsOf).
//
// Entries whose chunk list came as a delta that could not be built
// (delta.go) are not applied: their outcome is final already.
func (s *Secondary) plan(f *folder, entries []index.Entry) (*batchPlan, error) {
	id := f.cfg.ID
	pl := &batchPlan{results: make([]apply.Result, len(entries))}
	lookWritten := s.keeper(id) != nil
	err := s.db.View(id, func(tx *index.Tx) error {
		if err := checkSeqs(id, entries, f.skips.processedTo(tx.Position())); err != nil {
			return err
		}
		mayHold, first := false, true
		for i := range entries {
			e := &entries[i]
			if err := f.ignoredHere(e); err != nil {
				pl.results[i].Err = err
				continue
			}
			if err := f.unbuilt.get(e.Seq); err != nil { // its chunk list is missing (delta.go)
				pl.results[i].Err = err
				continue
			}
			if first {
				mayHold, first = tx.Position() == 0 || e.Seq <= tx.Head(), false
			}
			var written index.Stat
			if mayHold || lookWritten {
				old, ok, err := tx.GetHeader(e.Path)
				if err != nil {
					return err
				}
				if ok && mayHold && old.Seq == e.Seq && index.SameContent(old, *e) {
					pl.results[i].Stat = old.Stat // held
					continue
				}
				if ok && !old.Deleted {
					written = old.Stat
				}
			}
			pl.work = append(pl.work, *e)
			pl.at = append(pl.at, i)
			if lookWritten {
				pl.known.LastWritten = append(pl.known.LastWritten, written)
			}
		}
		var err error
		pl.known.Dirs, err = dirsOf(tx, entries, pl.work)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pl, nil
}

// apply applies the plan's work with w. durable (if not nil) is told of
// the batch's entries, in their slots, as they become durable. It returns
// the results of all of the batch's entries.
func (pl *batchPlan) apply(ctx context.Context, w *apply.Folder, src apply.ChunkSource, durable apply.Durable) ([]apply.Result, error) {
	if len(pl.work) == 0 {
		return pl.results, nil
	}
	rs, err := w.ApplyDurable(ctx, pl.work, src, pl.known, pl.durable(durable))
	for j, r := range rs {
		pl.results[pl.at[j]] = r
	}
	return pl.results, err
}

// durable adapts d, which speaks of all of the batch's entries, to the
// Apply of work: a prefix of work is the prefix of the batch up to the
// next entry of work (the entries skipped on the way are final already),
// and the results of work go into their slots. Without skipped entries
// it is d itself.
func (pl *batchPlan) durable(d apply.Durable) apply.Durable {
	if d == nil || len(pl.work) == len(pl.results) {
		return d
	}
	return func(k int, rs []apply.Result) {
		for j := range k {
			pl.results[pl.at[j]] = rs[j]
		}
		n := len(pl.results)
		if k < len(pl.at) {
			n = pl.at[k]
		}
		d(n, pl.results)
	}
}

// dirsOf reads from tx the replicated metadata of the directories that
// entries are written in: their parents, the parents' ancestors, and the
// root (asked for as "", the index's RootPath). A directory that batch
// carries is answered from batch (its last entry for the path; none if
// that deletes it), any other from the index.
func dirsOf(tx *index.Tx, batch, entries []index.Entry) (apply.DirMeta, error) {
	inBatch := make(map[string]index.Entry)
	for _, e := range batch {
		if e.Kind == index.KindDir {
			inBatch[e.Path] = e
		}
	}
	known := make(map[string]index.Entry)
	seen := make(map[string]bool)
	look := func(p string) error {
		seen[p] = true
		if _, ok := inBatch[p]; ok {
			return nil
		}
		e, ok, err := tx.GetHeader(p)
		if err != nil {
			return err
		}
		if ok && !e.Deleted && e.Kind == index.KindDir {
			known[p] = e
		}
		return nil
	}
	if err := look(index.RootPath); err != nil {
		return nil, err
	}
	for _, e := range entries {
		// Once a directory was looked at, so were its ancestors.
		for d := parentOf(e.Path); d != "" && !seen[d]; d = parentOf(d) {
			if err := look(d); err != nil {
				return nil, err
			}
		}
	}
	return func(p string) (index.Entry, bool) {
		if p == "" {
			p = index.RootPath // the root's own entry
		}
		if e, ok := inBatch[p]; ok {
			return e, !e.Deleted
		}
		e, ok := known[p]
		return e, ok
	}, nil
}

// sweepKept removes the folder's kept temp files (see apply/partial.go).
func (s *Secondary) sweepKept(f *folder) {
	if f.w.KeptFiles() == 0 {
		return
	}
	n, err := f.w.SweepKept()
	if n > 0 {
		s.log.Info("removed temp files kept for resuming that are no longer needed", "folder", f.cfg.ID, "count", n)
	}
	if err != nil {
		s.log.Warn("could not remove temp files kept for resuming", "folder", f.cfg.ID, "err", err)
	}
}
