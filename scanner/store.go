package scanner

import "github.com/ncsync/ncsync/index"

// Txn is the part of an index transaction the scanner uses. *index.Tx
// satisfies it. A Txn is valid only inside the function it was passed to
// and is used from that goroutine only.
type Txn interface {
	// Get returns path's entry, tombstones included.
	Get(path string) (index.Entry, bool, error)
	// Journal assigns the next sequence to e and stores it.
	Journal(e index.Entry) (index.Entry, error)
	// SetStat replaces only the local stat fingerprint of path's entry.
	SetStat(path string, st index.Stat) error
	// Walk calls fn for the entry at prefix and every entry under
	// prefix+"/" ("" means all), in path byte order, tombstones included.
	// fn must not modify the transaction.
	Walk(prefix string, fn func(index.Entry) error) error
}

// Store is the index of one folder. The scanner calls View and Update from
// different goroutines at the same time (one walker reading, one committer
// writing), so an implementation must allow a read transaction to run
// alongside a write transaction; the scanner never blocks inside a View
// waiting for an Update, so bbolt's rule against dependent read and write
// transactions holds. IndexStore is the implementation over the index.
type Store interface {
	// Update runs fn in one write transaction, durable when Update returns
	// nil. If fn fails nothing is written and its error is returned.
	Update(fn func(Txn) error) error
	// View runs fn in one read transaction. The scanner only reads in it.
	View(fn func(Txn) error) error
}

// IndexStore binds one folder of the index to the scanner.
func IndexStore(db *index.DB, folder string) Store {
	return indexStore{db: db, folder: folder}
}

type indexStore struct {
	db     *index.DB
	folder string
}

var _ Txn = (*index.Tx)(nil)

func (s indexStore) Update(fn func(Txn) error) error {
	return s.db.Update(s.folder, func(tx *index.Tx) error { return fn(tx) })
}

func (s indexStore) View(fn func(Txn) error) error {
	return s.db.View(s.folder, func(tx *index.Tx) error { return fn(tx) })
}
