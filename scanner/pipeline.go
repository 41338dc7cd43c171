package scanner

import (
	"context"
	"fmt"

	"github.com/ncsync/ncsync/index"
)

type opKind uint8

const (
	opNone    opKind = iota // nothing to write (a file that settled unchanged, or was given up)
	opJournal               // journal entry
	opSetStat               // record entry.Stat for entry.Path only
)

// item is one decision in journal order. Items for files to read carry done,
// closed by the hasher once op and entry are final; the committer waits for
// it, so reads run in parallel but land in walk order.
type item struct {
	op     opKind
	entry  index.Entry
	done   chan struct{}
	old    index.Entry // file items: the live entry being replaced, if hasOld
	hasOld bool
	later  *Deferred // file items: not journaled now (op is opNone), scan again
}

// emit queues it for the committer and, for a file to read, for a hasher.
// Both queues are bounded: a slow disk or index holds the walker back.
func (w *walker) emit(it *item) error {
	select {
	case w.order <- it:
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	if it.done == nil {
		return nil
	}
	select {
	case w.jobs <- it:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// deletions journals the tombstones of everything found gone, after every
// create and change of the scan, children before parents.
func (w *walker) deletions() error {
	for _, d := range w.dead {
		if d.kind == index.KindDir {
			if err := w.tombstoneTree(d.path); err != nil {
				return err
			}
		}
		if err := w.emit(tombstone(d.path, d.kind)); err != nil {
			return err
		}
	}
	return nil
}

// deadRoot is a path found gone whose tombstone (and its children's) is
// due at the end of the scan. Only roots are kept: what lies under a
// deleted directory is read from the index when the tombstones are sent.
type deadRoot struct {
	path string
	kind index.Kind
}

// tombstoneTree journals tombstones for every live entry under dir (not dir
// itself), children before parents.
func (w *walker) tombstoneTree(dir string) error {
	kids, err := w.list.children(w.ctx, dir)
	if err != nil {
		return err
	}
	for i := range kids {
		k := &kids[i]
		if k.Kind == index.KindDir {
			if err := w.tombstoneTree(k.Path); err != nil {
				return err
			}
		}
		if err := w.emit(tombstone(k.Path, k.Kind)); err != nil {
			return err
		}
	}
	return nil
}

func tombstone(p string, kind index.Kind) *item {
	return &item{op: opJournal, entry: index.Entry{Path: p, Kind: kind, Deleted: true}}
}

// commit writes the items in the order received: BatchSize in the first
// transaction, so that what a scan finds first is sent early, and twice
// as many in each next one up to batchGrowth × BatchSize. Each commit
// rewrites the index pages its entries touch (chunk ids are random keys:
// the chunk map's pages nearly all), so the 20,000 files of an initial
// copy cost 5 commits instead of 20 and a third less index time. It stops
// without writing the rest when ctx ends.
func (s *Scanner) commit(ctx context.Context, order <-chan *item) error {
	size := s.opts.BatchSize
	batch := make([]*item, 0, size)
	for it := range order {
		if it.done != nil {
			select {
			case <-it.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if it.later != nil {
			s.deferred = append(s.deferred, *it.later)
			continue
		}
		if it.op == opNone {
			s.noteRacy(it) // read again but still racy: stored as it was
			continue
		}
		batch = append(batch, it)
		if len(batch) == size {
			if err := s.flush(batch); err != nil {
				return err
			}
			batch = batch[:0]
			size = min(2*size, batchGrowth*s.opts.BatchSize)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.flush(batch)
}

func (s *Scanner) flush(batch []*item) error {
	if len(batch) == 0 {
		return nil
	}
	var changed, deleted uint64
	err := s.store.Update(func(tx Txn) error {
		changed, deleted = 0, 0
		for _, it := range batch {
			e := &it.entry
			switch it.op {
			case opJournal:
				e.Version = s.opts.Version()
				if _, err := tx.Journal(*e); err != nil {
					return fmt.Errorf("journal %q: %w", e.Path, err)
				}
				if e.Deleted {
					deleted++
				} else {
					changed++
				}
			case opSetStat:
				if err := tx.SetStat(e.Path, e.Stat); err != nil {
					return fmt.Errorf("set stat %q: %w", e.Path, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.ctr.changed.Add(changed)
	s.ctr.deleted.Add(deleted)
	for _, it := range batch {
		s.noteRacy(it)
	}
	return nil
}

// noteRacy adds it to the Scan's Result.Racy if its file is stored racily
// clean (a zero ctime, which no file has).
func (s *Scanner) noteRacy(it *item) {
	e := &it.entry
	switch {
	case e.Deleted || e.Stat.CtimeNs != 0 || e.Kind != index.KindFile:
	case len(s.racyPaths) == 1 && s.racyPaths[0] == "":
	case len(s.racyPaths) == maxRacy:
		s.racyPaths = []string{""}
	default:
		s.racyPaths = append(s.racyPaths, e.Path)
	}
}
