package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrJournalRange means the journal cannot list the changes asked for: it
// no longer reaches back to the start (see DB.Floor) or has not reached the
// end yet. A backup that relied on it makes a full copy instead.
var ErrJournalRange = errors.New("the journal does not cover this range")

// keyFloor, in a folder's state bucket, holds the folder's journal floor
// (see DB.Floor); absent means 0.
var keyFloor = []byte("floor")

// Change is one path of a DB.Changes listing.
type Change struct {
	Path    string
	Kind    Kind
	Deleted bool
	Seq     uint64
}

// ChangeRange is the part of a folder's journal a Changes listing came
// from.
type ChangeRange struct {
	Floor uint64 // the lowest start the journal answers for
	Head  uint64 // the folder's head when the listing was taken
}

// Floor returns folder's journal floor: the lowest sequence from which
// Changes can still list everything that changed. It is 0 until a rejoin
// purged entries this node had journaled or applied (their paths went
// back to older versions without a new sequence, and the purged numbers
// are used again by the new primary's history), then one past the head the
// folder had before the rejoin.
func (db *DB) Floor(folder string) (uint64, error) {
	var floor uint64
	err := db.View(folder, func(tx *Tx) error {
		var err error
		floor, err = tx.floor()
		return err
	})
	return floor, err
}

func (tx *Tx) floor() (uint64, error) {
	if tx.stateB == nil {
		return 0, nil
	}
	return decodeFloor(tx.stateB.Get(keyFloor))
}

func decodeFloor(v []byte) (uint64, error) {
	if v == nil {
		return 0, nil
	}
	f, n := binary.Uvarint(v)
	if n <= 0 || n != len(v) {
		return 0, fmt.Errorf("journal floor %x: %w", v, ErrCorrupt)
	}
	return f, nil
}

// raiseFloor sets the folder's floor to at least seq (inside a write).
func raiseFloor(stateB *bolt.Bucket, seq uint64) error {
	cur, err := decodeFloor(stateB.Get(keyFloor))
	if err != nil || seq <= cur {
		return err
	}
	return stateB.Put(keyFloor, binary.AppendUvarint(nil, seq))
}

// Changes calls fn, in sequence order, for every path of folder changed
// after since: each path once, in its latest state (Deleted for a path
// that no longer exists), tombstones included. It runs in one read
// transaction, which fn may hold for as long as it takes to hand the
// changes on (a slow fn delays a writer that must grow the file; it blocks
// no other writer).
//
// until, when not zero, is the end of the range: Changes fails with
// ErrJournalRange if the head has not reached it. Paths changed after
// until are listed too, in their latest state: the journal keeps one
// entry per path, so a later change hides whether the path also changed
// before until, and listing it is the safe side for a copy. Changes also
// fails with ErrJournalRange when since is below the folder's floor or
// above its head or until (a start from another history, e.g. an index
// made anew).
func (db *DB) Changes(folder string, since, until uint64, fn func(Change) error) (ChangeRange, error) {
	var r ChangeRange
	err := db.View(folder, func(tx *Tx) error {
		var err error
		if r.Floor, err = tx.floor(); err != nil {
			return err
		}
		r.Head = tx.st.Head
		switch {
		case since < r.Floor:
			return fmt.Errorf("%w: it starts at sequence %d, after %d (this node rejoined a new primary's history and went back past it)",
				ErrJournalRange, r.Floor, since)
		case until != 0 && since > until:
			return fmt.Errorf("%w: the start %d is after the end %d: it comes from another history (an index made anew?)",
				ErrJournalRange, since, until)
		case since > r.Head:
			return fmt.Errorf("%w: sequence %d is ahead of this node's journal (head %d): it comes from another history (an index made anew?) or another node",
				ErrJournalRange, since, r.Head)
		case until > r.Head:
			return fmt.Errorf("%w: this node has applied up to sequence %d, not yet %d", ErrJournalRange, r.Head, until)
		}
		return tx.since(since, func(seq uint64, e Entry, _ []byte) (bool, error) {
			return true, fn(Change{Path: e.Path, Kind: e.Kind, Deleted: e.Deleted, Seq: seq})
		})
	})
	if err != nil {
		return r, fmt.Errorf("changes of folder %q after %d: %w", folder, since, err)
	}
	return r, nil
}
