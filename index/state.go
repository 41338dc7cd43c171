package index

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// FolderStats counts a folder's live entries below its root (the root's
// own entry, RootPath, is not counted); tombstones are counted apart.
type FolderStats struct {
	Files      uint64
	Dirs       uint64
	Symlinks   uint64
	Tombstones uint64
	Bytes      uint64 // sum of live file sizes
}

// folderState is a folder's "state" record: journal head, applied position
// and the counters, kept up to date by every write so no query walks.
type folderState struct {
	Head     uint64
	Position uint64
	Stats    FolderStats
}

const stateVersion = 1

func (s *folderState) encode() []byte {
	b := make([]byte, 0, 1+7*binary.MaxVarintLen64)
	b = append(b, stateVersion)
	for _, v := range []uint64{s.Head, s.Position, s.Stats.Files, s.Stats.Dirs,
		s.Stats.Symlinks, s.Stats.Tombstones, s.Stats.Bytes} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func decodeState(b []byte) (folderState, error) {
	var s folderState
	if b == nil {
		return s, nil
	}
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != stateVersion {
		return s, fmt.Errorf("state version %d: %w", v, ErrCorrupt)
	}
	for _, p := range []*uint64{&s.Head, &s.Position, &s.Stats.Files, &s.Stats.Dirs,
		&s.Stats.Symlinks, &s.Stats.Tombstones, &s.Stats.Bytes} {
		*p = r.uvarint()
	}
	if err := r.done(); err != nil {
		return folderState{}, err
	}
	return s, nil
}

// add counts e in (sign +1) or out (sign -1) of the counters.
func (st *FolderStats) add(e *Entry, sign int) error {
	if e.Path == RootPath {
		return nil
	}
	var p *uint64
	switch {
	case e.Deleted:
		p = &st.Tombstones
	case e.Kind == KindFile:
		p = &st.Files
	case e.Kind == KindDir:
		p = &st.Dirs
	default:
		p = &st.Symlinks
	}
	if sign > 0 {
		*p++
		if !e.Deleted && e.Kind == KindFile {
			st.Bytes += uint64(e.Size)
		}
		return nil
	}
	if *p == 0 {
		return fmt.Errorf("counter underflow removing %q: %w", e.Path, ErrCorrupt)
	}
	*p--
	if !e.Deleted && e.Kind == KindFile {
		if st.Bytes < uint64(e.Size) {
			return fmt.Errorf("byte counter underflow removing %q: %w", e.Path, ErrCorrupt)
		}
		st.Bytes -= uint64(e.Size)
	}
	return nil
}

// readState loads a folder's state from its bucket (nil: a new folder).
func readState(fb *bolt.Bucket) (folderState, error) {
	if fb == nil {
		return folderState{}, nil
	}
	sb := fb.Bucket(bucketState)
	if sb == nil {
		return folderState{}, nil
	}
	return decodeState(sb.Get(keyState))
}

func (db *DB) state(folder string) (folderState, error) {
	if err := validFolder(folder); err != nil {
		return folderState{}, err
	}
	var s folderState
	err := db.bolt.View(func(btx *bolt.Tx) error {
		var err error
		s, err = readState(btx.Bucket(folderBucketName(folder)))
		return err
	})
	if err != nil {
		return folderState{}, fmt.Errorf("read state of folder %q: %w", folder, err)
	}
	return s, nil
}

// Head returns the highest sequence assigned in the folder: the journal
// head on a primary, the newest applied entry's sequence on a secondary.
// A folder never written has head 0.
func (db *DB) Head(folder string) (uint64, error) {
	s, err := db.state(folder)
	return s.Head, err
}

// Position returns a secondary's durable applied position: everything up to
// it has been applied and committed.
func (db *DB) Position(folder string) (uint64, error) {
	s, err := db.state(folder)
	return s.Position, err
}

// Stats returns the folder's counters without walking its entries.
func (db *DB) Stats(folder string) (FolderStats, error) {
	s, err := db.state(folder)
	return s.Stats, err
}
