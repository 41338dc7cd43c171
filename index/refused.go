package index

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Refusal is an entry a secondary refused to apply (bad input from its
// primary) and skipped past: its tree does not hold that version of the
// path. It is kept until the path is stored again, so that `ncsync
// promote` can name it even after a restart.
type Refusal struct {
	Folder string
	Path   string
	Seq    uint64
	Msg    string
}

// bucketRefused, nested in the meta bucket, holds the refusals by
// folder NUL path; it exists once a refusal was ever noted.
var bucketRefused = []byte("refused")

func refusalKey(folder, path string) []byte {
	return append(append([]byte(folder), 0), path...)
}

// NoteRefused records that the entry (path, seq) of tx's folder was
// refused with msg.
func (tx *Tx) NoteRefused(path string, seq uint64, msg string) error {
	if err := tx.check(true); err != nil {
		return err
	}
	b, err := tx.btx.Bucket(bucketMeta).CreateBucketIfNotExists(bucketRefused)
	if err != nil {
		return err
	}
	v := binary.AppendUvarint(nil, seq)
	return b.Put(refusalKey(tx.folder, path), append(v, msg...))
}

// ClearRefused forgets a refusal of path in tx's folder, if there is one:
// call it when a version of path is stored.
func (tx *Tx) ClearRefused(path string) error {
	if err := tx.check(true); err != nil {
		return err
	}
	b := tx.btx.Bucket(bucketMeta).Bucket(bucketRefused)
	if b == nil {
		return nil
	}
	return b.Delete(refusalKey(tx.folder, path))
}

// clearRefusedAfter forgets the refusals of folder with a sequence after
// seq (a rewind: they are sent again).
func clearRefusedAfter(btx *bolt.Tx, folder string, seq uint64) error {
	b := btx.Bucket(bucketMeta).Bucket(bucketRefused)
	if b == nil {
		return nil
	}
	prefix := append([]byte(folder), 0)
	var drop [][]byte
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if s, n := binary.Uvarint(v); n <= 0 || s > seq {
			drop = append(drop, bytes.Clone(k))
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Refused lists the recorded refusals, by folder and path.
func (db *DB) Refused() ([]Refusal, error) {
	var out []Refusal
	err := db.bolt.View(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketMeta).Bucket(bucketRefused)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			i := bytes.IndexByte(k, 0)
			seq, n := binary.Uvarint(v)
			if i < 0 || n <= 0 {
				return fmt.Errorf("refusal %q: %w", k, ErrCorrupt)
			}
			out = append(out, Refusal{Folder: string(k[:i]), Path: string(k[i+1:]), Seq: seq, Msg: string(v[n:])})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read refusals in %q: %w", db.path, err)
	}
	return out, nil
}
