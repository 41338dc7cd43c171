package index

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Pauses live in the "pauses" bucket: peer → JSON-encoded Pause. There is
// at most one pause per peer.
var bucketPauses = []byte("pauses")

// Pause is a secondary held at one point of the journal, so that its tree
// stays equal to the primary's tree at that point (see package primary).
type Pause struct {
	ID      string
	Peer    string
	Since   time.Time
	Expires time.Time
	// Target is the sequence per folder the pause was asked at (the
	// primary's journal heads after a flush); Hold is the point per folder
	// the peer is held at once it got there: at or after Target, the head
	// of a journal snapshot the peer applied completely.
	Target map[string]uint64
	Hold   map[string]uint64
}

// SetPause records p, replacing the peer's previous pause.
func (db *DB) SetPause(p Pause) error {
	if p.Peer == "" || p.ID == "" {
		return fmt.Errorf("set pause: empty peer or id: %w", ErrInvalid)
	}
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("set pause of peer %q: %w", p.Peer, err)
	}
	err = db.bolt.Update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(bucketPauses)
		if err != nil {
			return err
		}
		return b.Put([]byte(p.Peer), v)
	})
	if err != nil {
		return fmt.Errorf("set pause of peer %q: %w", p.Peer, err)
	}
	return nil
}

// DeletePause removes peer's pause, if any.
func (db *DB) DeletePause(peer string) error {
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketPauses)
		if b == nil {
			return nil
		}
		return b.Delete([]byte(peer))
	})
	if err != nil {
		return fmt.Errorf("delete pause of peer %q: %w", peer, err)
	}
	return nil
}

// Pauses returns every recorded pause.
func (db *DB) Pauses() ([]Pause, error) {
	var out []Pause
	err := db.bolt.View(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketPauses)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			p, err := decodePause(v)
			if err != nil {
				return fmt.Errorf("pause of peer %q: %w", k, err)
			}
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read pauses: %w", err)
	}
	return out, nil
}

func decodePause(v []byte) (Pause, error) {
	var p Pause
	if err := json.Unmarshal(v, &p); err != nil {
		return Pause{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if p.Peer == "" || p.ID == "" {
		return Pause{}, fmt.Errorf("%w: pause without peer or id", ErrCorrupt)
	}
	return p, nil
}
