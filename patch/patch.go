// Package patch builds a chunk from bytes the receiver already holds, the
// way rsync builds a file: the receiver sends a signature of its base
// bytes (fixed-size blocks, each with a weak rolling checksum and a
// truncated strong hash), the sender answers with a delta of the new
// bytes against it (copies of base blocks and literal bytes), and the
// receiver applies that delta to its base.
//
// Nothing here proves the result right: a weak and an 8-byte strong match
// can both collide, and the base may change between signing and applying.
// The caller checks the result against the chunk's id and, if it differs,
// fetches the chunk whole. Decoding and applying are bounded by limits the
// caller sets, so a crafted signature or delta is refused, never
// allocated.
package patch

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// Block sizes a signature may use. DefaultBlockSize is the receiver's
// choice: chunks average about 64 KiB, so a 2 KiB block costs 12 bytes of
// signature per 2 KiB of base (0.6 %), and a small edit costs at most two
// blocks of literals beside its own bytes. Half the block would halve that
// worst case and double the signature.
const (
	MinBlockSize     = 256
	MaxBlockSize     = 64 << 10
	DefaultBlockSize = 2 << 10
)

// strongBytes is the kept part of a block's BLAKE3-256: with the weak sum
// it makes a false match rare, and a false match only costs a whole-chunk
// fetch (the result is checked against the chunk id).
const strongBytes = 8

// blockBytes is one block's size in an encoded signature.
const blockBytes = 4 + strongBytes

// Errors of DecodeSignature and Apply, wrapped by what they return.
var (
	// ErrSignature: an encoded signature is malformed or over a limit.
	ErrSignature = errors.New("patch: bad signature")
	// ErrDelta: a delta is malformed, reaches outside its base or builds
	// more or other than the announced size.
	ErrDelta = errors.New("patch: bad delta")
)

// Signature describes base bytes block by block.
type Signature struct {
	BlockSize int
	BaseLen   int
	Weak      []uint32
	Strong    [][strongBytes]byte
}

// blocks returns the number of blocks of size in a base of n bytes.
func blocks(n, size int) int { return (n + size - 1) / size }

// Sign returns the signature of base in blocks of blockSize, which must be
// within MinBlockSize..MaxBlockSize.
func Sign(base []byte, blockSize int) Signature {
	n := blocks(len(base), blockSize)
	sig := Signature{BlockSize: blockSize, BaseLen: len(base), Weak: make([]uint32, n), Strong: make([][strongBytes]byte, n)}
	for i := range n {
		b := base[i*blockSize : min((i+1)*blockSize, len(base))]
		sig.Weak[i] = weakSum(b)
		sig.Strong[i] = strongSum(b)
	}
	return sig
}

// Encode returns sig's wire form: the block size and base length
// (uvarints), then each block's weak sum (4 bytes, little endian) and
// strong hash.
func (sig Signature) Encode() []byte {
	out := make([]byte, 0, 2*binary.MaxVarintLen64+len(sig.Weak)*blockBytes)
	out = binary.AppendUvarint(out, uint64(sig.BlockSize))
	out = binary.AppendUvarint(out, uint64(sig.BaseLen))
	for i, w := range sig.Weak {
		out = binary.LittleEndian.AppendUint32(out, w)
		out = append(out, sig.Strong[i][:]...)
	}
	return out
}

// DecodeSignature parses an encoded signature of a base of at most
// maxBase bytes.
func DecodeSignature(b []byte, maxBase int) (Signature, error) {
	size, n := binary.Uvarint(b)
	if n <= 0 || size < MinBlockSize || size > MaxBlockSize {
		return Signature{}, fmt.Errorf("%w: block size outside %d..%d", ErrSignature, MinBlockSize, MaxBlockSize)
	}
	b = b[n:]
	baseLen, n := binary.Uvarint(b)
	if n <= 0 || baseLen == 0 || baseLen > uint64(maxBase) {
		return Signature{}, fmt.Errorf("%w: base length outside 1..%d", ErrSignature, maxBase)
	}
	b = b[n:]
	count := blocks(int(baseLen), int(size))
	if len(b) != count*blockBytes {
		return Signature{}, fmt.Errorf("%w: %d bytes of blocks, want %d", ErrSignature, len(b), count*blockBytes)
	}
	sig := Signature{BlockSize: int(size), BaseLen: int(baseLen), Weak: make([]uint32, count), Strong: make([][strongBytes]byte, count)}
	for i := range count {
		sig.Weak[i] = binary.LittleEndian.Uint32(b)
		copy(sig.Strong[i][:], b[4:blockBytes])
		b = b[blockBytes:]
	}
	return sig, nil
}

// weakSum is rsync's rolling checksum of b: the sum of its bytes and the
// sum of those running sums, each modulo 2^16.
func weakSum(b []byte) uint32 {
	var s1, s2 uint32
	for _, c := range b {
		s1 += uint32(c)
		s2 += s1
	}
	return s1&0xffff | s2<<16
}

func strongSum(b []byte) [strongBytes]byte {
	sum := blake3.Sum256(b)
	var s [strongBytes]byte
	copy(s[:], sum[:])
	return s
}
