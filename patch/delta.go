package patch

import (
	"encoding/binary"
	"fmt"
)

// A delta is a sequence of ops, each a uvarint n<<1|kind: kind 0 is n
// literal bytes, which follow; kind 1 copies n blocks of the base from
// the block whose index follows (a uvarint). The last block of a base may
// be short.
const (
	opLiteral = 0
	opCopy    = 1
)

// Diff returns target as a delta against the base sig describes. Only
// whole blocks are matched: a rolling weak sum finds candidates, the
// strong hash confirms them, and the block after the last match is tried
// first so that unchanged runs stay runs.
func Diff(sig Signature, target []byte) []byte {
	bs := sig.BlockSize
	full := sig.BaseLen / bs // the last short block is never matched
	byWeak := make(map[uint32][]int32, full)
	for i := range full {
		byWeak[sig.Weak[i]] = append(byWeak[sig.Weak[i]], int32(i))
	}
	var out []byte
	lit := 0                  // start of pending literals
	runStart, runLen := -1, 0 // pending copy
	flushCopy := func() {
		if runLen > 0 {
			out = binary.AppendUvarint(out, uint64(runLen)<<1|opCopy)
			out = binary.AppendUvarint(out, uint64(runStart))
		}
		runStart, runLen = -1, 0
	}
	flushLit := func(end int) {
		if end > lit {
			flushCopy()
			out = binary.AppendUvarint(out, uint64(end-lit)<<1|opLiteral)
			out = append(out, target[lit:end]...)
		}
	}
	var s1, s2 uint32
	for pos := 0; len(target) >= bs && full > 0; {
		if pos == 0 {
			for _, c := range target[:bs] {
				s1 += uint32(c)
				s2 += s1
			}
		}
		match := -1
		if cands, ok := byWeak[s1&0xffff|s2<<16]; ok {
			strong := strongSum(target[pos : pos+bs])
			next := runStart + runLen
			if runLen > 0 && next < full && sig.Weak[next] == s1&0xffff|s2<<16 && sig.Strong[next] == strong {
				match = next
			} else {
				for _, c := range cands {
					if sig.Strong[c] == strong {
						match = int(c)
						break
					}
				}
			}
		}
		if match >= 0 {
			flushLit(pos)
			if runLen > 0 && match != runStart+runLen {
				flushCopy()
			}
			if runLen == 0 {
				runStart = match
			}
			runLen++
			pos += bs
			lit = pos
			if pos+bs > len(target) {
				break
			}
			s1, s2 = 0, 0
			for _, c := range target[pos : pos+bs] {
				s1 += uint32(c)
				s2 += s1
			}
			continue
		}
		if pos+bs >= len(target) {
			break
		}
		// Roll the window one byte on.
		out1, in := uint32(target[pos]), uint32(target[pos+bs])
		s1 = s1 - out1 + in
		s2 = s2 - uint32(bs)*out1 + s1
		pos++
	}
	end := len(target)
	if short := sig.BaseLen - full*bs; short > 0 && end-lit >= short {
		// The base's last block is short: it can only end the target.
		if t := target[end-short:]; weakSum(t) == sig.Weak[full] && strongSum(t) == sig.Strong[full] {
			end -= short
			flushLit(end)
			if runLen > 0 && runStart+runLen != full {
				flushCopy()
			}
			if runLen == 0 {
				runStart = full
			}
			runLen++
			lit = len(target)
		}
	}
	flushLit(end)
	flushCopy()
	return out
}

// Apply builds the bytes delta describes from base, whose signature was
// made with blockSize. The result must be exactly size bytes, at most
// maxSize; anything else (an op past the delta's end, a block outside the
// base, output beyond size) is an ErrDelta. It allocates size bytes, no
// more, and only after checking size against maxSize.
func Apply(base []byte, blockSize int, delta []byte, size, maxSize int) ([]byte, error) {
	if blockSize < MinBlockSize || blockSize > MaxBlockSize {
		return nil, fmt.Errorf("%w: block size %d outside %d..%d", ErrDelta, blockSize, MinBlockSize, MaxBlockSize)
	}
	if size < 0 || size > maxSize {
		return nil, fmt.Errorf("%w: size %d outside 0..%d", ErrDelta, size, maxSize)
	}
	nblocks := uint64(blocks(len(base), blockSize))
	out := make([]byte, 0, size)
	for len(delta) > 0 {
		op, n := binary.Uvarint(delta)
		if n <= 0 {
			return nil, fmt.Errorf("%w: bad op at %d bytes of output", ErrDelta, len(out))
		}
		delta = delta[n:]
		count := op >> 1
		room := uint64(size - len(out))
		switch op & 1 {
		case opLiteral:
			if count == 0 || count > room || count > uint64(len(delta)) {
				return nil, fmt.Errorf("%w: literal of %d bytes with %d left to build and %d in the delta", ErrDelta, count, room, len(delta))
			}
			out = append(out, delta[:count]...)
			delta = delta[count:]
		case opCopy:
			first, n := binary.Uvarint(delta)
			if n <= 0 {
				return nil, fmt.Errorf("%w: bad copy at %d bytes of output", ErrDelta, len(out))
			}
			delta = delta[n:]
			if count == 0 || first >= nblocks || count > nblocks-first {
				return nil, fmt.Errorf("%w: copy of blocks %d+%d outside the base's %d", ErrDelta, first, count, nblocks)
			}
			start := first * uint64(blockSize)
			end := min((first+count)*uint64(blockSize), uint64(len(base)))
			if end-start > room {
				return nil, fmt.Errorf("%w: copy of %d bytes with %d left to build", ErrDelta, end-start, room)
			}
			out = append(out, base[start:end]...)
		}
	}
	if len(out) != size {
		return nil, fmt.Errorf("%w: built %d bytes, want %d", ErrDelta, len(out), size)
	}
	return out, nil
}
