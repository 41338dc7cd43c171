package scanner

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/relpath"
)

// fakeStore is an in-memory Store with the semantics of index.DB that the
// scanner relies on, plus the invariants a secondary relies on, checked at
// every Journal: a live entry's parent is a live directory, and a directory
// is tombstoned only once nothing live remains under it. Every test thereby
// checks the journal order too.
type fakeStore struct {
	mu      sync.RWMutex
	entries map[string]index.Entry
	kmu     sync.Mutex // guards keys and walks, which Views (under RLock) update
	keys    []string   // sorted; nil when stale
	seq     uint64
	journal []index.Entry // every journaled entry, in order, but the root's
	roots   []index.Entry // the root's entries (index.RootPath), in order

	updates  int   // Update calls that committed
	maxBatch int   // most writes in one Update
	walks    int   // Walk calls
	failWith error // if set, Journal fails with it
}

func newFakeStore() *fakeStore {
	return &fakeStore{entries: map[string]index.Entry{}}
}

type fakeTx struct {
	s      *fakeStore
	write  bool
	writes int
	undo   []func()
}

func (s *fakeStore) Update(fn func(Txn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &fakeTx{s: s, write: true}
	if err := fn(tx); err != nil {
		for i := len(tx.undo) - 1; i >= 0; i-- {
			tx.undo[i]()
		}
		s.keys = nil
		return err
	}
	if tx.writes > 0 {
		s.updates++
		s.maxBatch = max(s.maxBatch, tx.writes)
	}
	return nil
}

func (s *fakeStore) View(fn func(Txn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(&fakeTx{s: s})
}

func clone(e index.Entry) index.Entry {
	e.Chunks = slices.Clone(e.Chunks)
	return e
}

func (tx *fakeTx) Get(path string) (index.Entry, bool, error) {
	e, ok := tx.s.entries[path]
	return clone(e), ok, nil
}

func (tx *fakeTx) Journal(e index.Entry) (index.Entry, error) {
	if !tx.write {
		return index.Entry{}, errors.New("journal in a read transaction")
	}
	s := tx.s
	if s.failWith != nil {
		return index.Entry{}, s.failWith
	}
	if err := s.check(e); err != nil {
		return index.Entry{}, err
	}
	old, had := s.entries[e.Path]
	seq, n, r := s.seq, len(s.journal), len(s.roots)
	tx.undo = append(tx.undo, func() {
		if had {
			s.entries[e.Path] = old
		} else {
			delete(s.entries, e.Path)
		}
		s.seq, s.journal, s.roots = seq, s.journal[:n], s.roots[:r]
	})
	s.seq++
	e.Seq, e.Version.Seq = s.seq, s.seq
	e = clone(e)
	s.entries[e.Path] = e
	if e.Path == index.RootPath {
		s.roots = append(s.roots, e) // kept apart: tests of other paths read journal
	} else {
		s.journal = append(s.journal, e)
	}
	s.keys = nil
	tx.writes++
	return e, nil
}

// check enforces the invariants a secondary needs from the journal order.
func (s *fakeStore) check(e index.Entry) error {
	if e.Path == index.RootPath {
		if e.Kind != index.KindDir || e.Deleted {
			return fmt.Errorf("fake: the root entry as a %v (deleted %v)", e.Kind, e.Deleted)
		}
		return nil
	}
	if relpath.Check(e.Path) != nil || e.Kind < index.KindFile || e.Kind > index.KindSymlink {
		return fmt.Errorf("fake: bad entry %q kind %v", e.Path, e.Kind)
	}
	if !e.Deleted {
		if parent := parentOf(e.Path); parent != "" {
			if pe, ok := s.entries[parent]; !ok || pe.Deleted || pe.Kind != index.KindDir {
				return fmt.Errorf("fake: %q journaled before its parent directory", e.Path)
			}
		}
		return nil
	}
	for p, c := range s.entries {
		if !c.Deleted && strings.HasPrefix(p, e.Path+"/") {
			return fmt.Errorf("fake: %q tombstoned while %q is live", e.Path, p)
		}
	}
	return nil
}

func (tx *fakeTx) SetStat(path string, st index.Stat) error {
	if !tx.write {
		return errors.New("set stat in a read transaction")
	}
	e, ok := tx.s.entries[path]
	if !ok {
		return fmt.Errorf("fake: set stat %q: not found", path)
	}
	old := e
	tx.undo = append(tx.undo, func() { tx.s.entries[path] = old })
	e.Stat = st
	tx.s.entries[path] = e
	tx.writes++
	return nil
}

// Walk has index.Tx.Walk's semantics: the entry at prefix, then everything
// under prefix+"/", in byte order.
func (tx *fakeTx) Walk(prefix string, fn func(index.Entry) error) error {
	s := tx.s
	s.kmu.Lock()
	s.walks++
	keys := s.sortedKeys()
	s.kmu.Unlock()
	if prefix == "" {
		for _, k := range keys {
			if err := fn(clone(s.entries[k])); err != nil {
				return err
			}
		}
		return nil
	}
	if e, ok := s.entries[prefix]; ok {
		if err := fn(clone(e)); err != nil {
			return err
		}
	}
	under := prefix + "/"
	for i := sort.SearchStrings(keys, under); i < len(keys) && strings.HasPrefix(keys[i], under); i++ {
		if err := fn(clone(s.entries[keys[i]])); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) sortedKeys() []string {
	keys := s.keys
	if keys == nil {
		keys = make([]string, 0, len(s.entries))
		for k := range s.entries {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	s.keys = keys
	return keys
}

// live returns the live entries by path, the root's own entry left out.
func (s *fakeStore) live() map[string]index.Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]index.Entry{}
	for k, e := range s.entries {
		if !e.Deleted && k != index.RootPath {
			out[k] = clone(e)
		}
	}
	return out
}

// journalFrom returns the entries journaled since the journal had n.
func (s *fakeStore) journalFrom(n int) []index.Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.journal[n:])
}

func (s *fakeStore) rootsLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.roots)
}

func (s *fakeStore) journalLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.journal)
}

func (s *fakeStore) get(p string) (index.Entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.entries[p]
	return clone(e), ok
}
