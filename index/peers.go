package index

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Peer progress lives in "peers"/<peer>: folder → acknowledged sequence
// (8 bytes big endian).

// SetPeerAck records that peer has durably applied folder up to seq. It
// may go backwards (a secondary rebuilt from scratch acknowledges from 0).
func (db *DB) SetPeerAck(peer, folder string, seq uint64) error {
	if peer == "" {
		return fmt.Errorf("set ack: empty peer: %w", ErrInvalid)
	}
	if err := validFolder(folder); err != nil {
		return err
	}
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		pb, err := btx.Bucket(bucketPeers).CreateBucketIfNotExists([]byte(peer))
		if err != nil {
			return err
		}
		return pb.Put([]byte(folder), binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return fmt.Errorf("set ack of peer %q for folder %q: %w", peer, folder, err)
	}
	return nil
}

// PeerAcks returns peer's acknowledged sequence per folder (empty if the
// peer never acknowledged anything).
func (db *DB) PeerAcks(peer string) (map[string]uint64, error) {
	acks := make(map[string]uint64)
	if peer == "" {
		return acks, nil
	}
	err := db.bolt.View(func(btx *bolt.Tx) error {
		pb := btx.Bucket(bucketPeers).Bucket([]byte(peer))
		if pb == nil {
			return nil
		}
		return pb.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("ack for folder %q: %w", k, ErrCorrupt)
			}
			acks[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read acks of peer %q: %w", peer, err)
	}
	return acks, nil
}

// Peers returns the peers that ever acknowledged anything, sorted.
func (db *DB) Peers() ([]string, error) {
	var peers []string
	err := db.bolt.View(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketPeers).ForEachBucket(func(k []byte) error {
			peers = append(peers, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	return peers, nil
}
