package index

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// EpochMark records the start of one primary term.
type EpochMark struct {
	Epoch     uint64
	Node      string            // the primary of that term
	Start     map[string]uint64 // folder → sequence where the term began
	StartedNs int64
}

// Meta is the node's cluster identity and epoch history.
type Meta struct {
	ClusterID string
	Node      string
	Epoch     uint64
	Lineage   []EpochMark // oldest first
	// Promoted is set by `ncsync promote` and cleared once the node runs
	// with a primary config: while it is set, the node's config still
	// says secondary although the node leads its epoch, and the daemon
	// refuses to follow anyone with that config.
	Promoted bool
}

// Leads reports whether node is the primary of m's newest epoch, that is
// whether m's last epoch mark is node's own term.
func (m Meta) Leads(node string) bool {
	n := len(m.Lineage)
	return n > 0 && m.Lineage[n-1].Node == node && m.Lineage[n-1].Epoch == m.Epoch
}

// Meta encodings: version 1 has no flags; version 2 adds a flags byte.
const (
	metaVersion1 = 1
	metaVersion  = 2
)

// Meta flag bits (version 2).
const metaPromoted = 1

// minMarkLen is the smallest encoded EpochMark: four one-byte fields.
const minMarkLen = 4

func encodeMeta(m *Meta) []byte {
	b := []byte{metaVersion}
	b = appendString(b, m.ClusterID)
	b = appendString(b, m.Node)
	b = binary.AppendUvarint(b, m.Epoch)
	b = binary.AppendUvarint(b, uint64(len(m.Lineage)))
	for _, mk := range m.Lineage {
		b = binary.AppendUvarint(b, mk.Epoch)
		b = appendString(b, mk.Node)
		b = binary.AppendUvarint(b, uint64(len(mk.Start)))
		for _, f := range slices.Sorted(maps.Keys(mk.Start)) {
			b = appendString(b, f)
			b = binary.AppendUvarint(b, mk.Start[f])
		}
		b = binary.AppendVarint(b, mk.StartedNs)
	}
	var flags byte
	if m.Promoted {
		flags |= metaPromoted
	}
	return append(b, flags)
}

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	r := reader{b: b}
	v := r.byte()
	if r.err == nil && v != metaVersion && v != metaVersion1 {
		return Meta{}, fmt.Errorf("meta version %d: %w", v, ErrCorrupt)
	}
	m.ClusterID = r.string()
	m.Node = r.string()
	m.Epoch = r.uvarint()
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/minMarkLen) {
		return Meta{}, fmt.Errorf("lineage count %d: %w", n, ErrCorrupt)
	}
	if n > 0 && r.err == nil {
		m.Lineage = make([]EpochMark, 0, n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		var mk EpochMark
		mk.Epoch = r.uvarint()
		mk.Node = r.string()
		ns := r.uvarint()
		// A start is at least a one-byte name length and a one-byte seq.
		if r.err == nil && ns > uint64(len(r.b)/2) {
			return Meta{}, fmt.Errorf("start count %d: %w", ns, ErrCorrupt)
		}
		if ns > 0 && r.err == nil {
			mk.Start = make(map[string]uint64, ns)
		}
		prev := ""
		for j := uint64(0); j < ns && r.err == nil; j++ {
			f := r.string()
			seq := r.uvarint()
			if r.err == nil && j > 0 && f <= prev {
				// Sorted and unique, so the encoding is canonical.
				return Meta{}, fmt.Errorf("start folders out of order: %w", ErrCorrupt)
			}
			mk.Start[f] = seq
			prev = f
		}
		mk.StartedNs = r.varint()
		m.Lineage = append(m.Lineage, mk)
	}
	if v == metaVersion {
		flags := r.byte()
		if r.err == nil && flags&^metaPromoted != 0 {
			return Meta{}, fmt.Errorf("meta flags %#x: %w", flags, ErrCorrupt)
		}
		m.Promoted = flags&metaPromoted != 0
	}
	if err := r.done(); err != nil {
		return Meta{}, err
	}
	return m, nil
}

func readMeta(btx *bolt.Tx) (Meta, error) {
	v := btx.Bucket(bucketMeta).Get(keyMeta)
	if v == nil {
		return Meta{}, nil
	}
	return decodeMeta(v)
}

// Meta returns the stored cluster identity and epoch history; the zero Meta
// if none was ever set.
func (db *DB) Meta() (Meta, error) {
	var m Meta
	err := db.bolt.View(func(btx *bolt.Tx) error {
		var err error
		m, err = readMeta(btx)
		return err
	})
	if err != nil {
		return Meta{}, fmt.Errorf("read meta in %q: %w", db.path, err)
	}
	return m, nil
}

// SetMeta replaces the cluster identity and epoch history durably.
func (db *DB) SetMeta(m Meta) error {
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketMeta).Put(keyMeta, encodeMeta(&m))
	})
	if err != nil {
		return fmt.Errorf("write meta in %q: %w", db.path, err)
	}
	return nil
}

// Rewind is one folder's part of a [DB.Rejoin].
type Rewind struct {
	// To is the sequence the folder goes back to: every entry journaled
	// after it is purged (entry, journal key, chunk map rows, counters)
	// and Head becomes To.
	To uint64
	// Position is the applied position to resume from, at most To. It
	// may be lower than the current position (a full resend).
	Position uint64
}

// Rejoin adopts m, the epoch and lineage of a newer primary, and rewinds
// folders to where this node's history and that primary's meet, all in one
// durable transaction: a crash leaves either the old state (the rejoin is
// then worked out again) or the new one. It is how a node that diverged
// from the current primary (an old primary, or a secondary that had
// applied entries the new primary never got) resets itself before
// catching up. The caller preserves whatever it must keep before.
func (db *DB) Rejoin(m Meta, rewind map[string]Rewind) error {
	for _, f := range slices.Sorted(maps.Keys(rewind)) {
		if err := validFolder(f); err != nil {
			return err
		}
		if rw := rewind[f]; rw.Position > rw.To {
			return fmt.Errorf("rejoin folder %q: position %d after %d: %w", f, rw.Position, rw.To, ErrInvalid)
		}
	}
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		for _, f := range slices.Sorted(maps.Keys(rewind)) {
			if err := rewindFolder(btx, db, f, rewind[f]); err != nil {
				return fmt.Errorf("rewind folder %q: %w", f, err)
			}
		}
		return btx.Bucket(bucketMeta).Put(keyMeta, encodeMeta(&m))
	})
	if err != nil {
		return fmt.Errorf("rejoin in %q: %w", db.path, err)
	}
	return nil
}

// rewindFolder purges folder's entries after rw.To and sets its head and
// position, inside btx.
func rewindFolder(btx *bolt.Tx, db *DB, folder string, rw Rewind) error {
	fb := btx.Bucket(folderBucketName(folder))
	if fb == nil {
		return nil // nothing stored: nothing to rewind
	}
	tx := &Tx{db: db, folder: folder, btx: btx, writable: true,
		entries: fb.Bucket(bucketEntries), journal: fb.Bucket(bucketJournal),
		stateB: fb.Bucket(bucketState), chunks: btx.Bucket(bucketChunks)}
	if tx.entries == nil || tx.journal == nil || tx.stateB == nil {
		return fmt.Errorf("folder buckets missing: %w", ErrCorrupt)
	}
	var err error
	if tx.st, err = readState(fb); err != nil {
		return err
	}
	var purge []string
	if err := tx.since(rw.To, func(_ uint64, e Entry, _ []byte) (bool, error) {
		purge = append(purge, e.Path)
		return true, nil
	}); err != nil {
		return err
	}
	for _, p := range purge {
		if err := tx.Delete(p); err != nil {
			return err
		}
	}
	if tx.st.Head > rw.To {
		// The purged paths went back to older versions without a new
		// sequence, and the numbers after rw.To are used again: a
		// listing of changes from before the old head would miss them.
		if err := raiseFloor(tx.stateB, tx.st.Head+1); err != nil {
			return err
		}
	}
	if err := clearRefusedAfter(btx, folder, rw.Position); err != nil {
		return err
	}
	tx.st.Head, tx.st.Position, tx.dirty = rw.To, rw.Position, true
	err = tx.finish()
	tx.done = true
	return err
}
