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
}

const metaVersion = 1

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
	return b
}

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != metaVersion {
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
