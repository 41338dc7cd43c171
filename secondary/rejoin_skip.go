package secondary

import (
	"context"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
)

// applyEntries applies entries of folder id with its writer, except the
// ones this node already holds exactly: the same sequence, kind, content
// and metadata in its index. Those occur only after a rejoin, when the new
// primary sends its whole journal again and most of it is history both
// share; they get their recorded stat back without touching the disk.
//
// durable (if not nil) is told of the entries done before the end (see
// apply.Durable), in the positions of entries.
func (s *Secondary) applyEntries(ctx context.Context, id string, entries []index.Entry, src apply.ChunkSource, dirs apply.DirMeta, durable apply.Durable) ([]apply.Result, error) {
	f := s.folders[id]
	held := make([]bool, len(entries))
	stats := make([]index.Stat, len(entries))
	n := 0
	err := s.db.View(id, func(tx *index.Tx) error {
		if tx.Position() > 0 && entries[0].Seq > tx.Head() {
			return nil // the usual case: nothing of this batch is held yet
		}
		for i, e := range entries {
			old, ok, err := tx.Get(e.Path)
			if err != nil {
				return err
			}
			if ok && old.Seq == e.Seq && index.SameContent(old, e) {
				held[i], stats[i] = true, old.Stat
				n++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return f.w.ApplyDurable(ctx, entries, src, dirs, durable)
	}
	results := make([]apply.Result, len(entries))
	var todo []index.Entry
	var at []int
	for i, e := range entries {
		if held[i] {
			results[i].Stat = stats[i]
			continue
		}
		todo = append(todo, e)
		at = append(at, i)
	}
	if len(todo) == 0 {
		return results, nil
	}
	// Entries held already are done: a prefix of todo is one of entries.
	rs, err := f.w.ApplyDurable(ctx, todo, src, dirs, subsetDurable(durable, todo, entries, results))
	for j, r := range rs {
		results[at[j]] = r
	}
	return results, err
}
