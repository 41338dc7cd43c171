package transport

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reading a paced stream a TLS record at a time. On a link slower than the
// machine (a 100 Mbit/s line, a tc-shaped veth) the data of a chunk stream
// arrives a segment or two at a time. Each arrival woke the reading
// goroutine for a read that returned a fraction of a 16 KiB TLS record,
// which TLS cannot decrypt before the rest is there: eleven wake-ups,
// reads and scheduler hand-offs per record instead of one, measured as
// twice the receiving side's CPU of the same copy on an unshaped link.
//
// A recordConn sits under TLS and follows the record headers going by.
// While a record is incomplete it sets the socket's receive low-water mark
// (SO_RCVLOWAT) to the bytes the record still lacks, so the kernel wakes
// the reader only once the record is whole; at a record boundary the mark
// is 1 again. The wait is never longer than the record's own arrival: no
// byte behind it (an acknowledgement, a keepalive, the next record) can be
// read before the record is complete anyway, the kernel still wakes the
// reader at once on an error, an end of stream or a full receive window,
// and a non-blocking read returns whatever has arrived.

// Bounds of the record tracking.
const (
	recordHeaderBytes = 5
	// maxRecordBytes is a TLS 1.3 record's largest ciphertext (2^14 +
	// 256); a header announcing more stops the tracking (TLS refuses it).
	maxRecordBytes = 1<<14 + 256
	// minLowWater is the smallest remainder worth a low-water mark: below
	// it the rest of a record comes in one or two segments anyway.
	minLowWater = 4 << 10
)

// recordConn is a TCP connection carrying TLS records whose reads wake
// once a record is complete. Read is not safe for concurrent use (TLS
// reads under its own lock); the other methods are the TCP connection's.
type recordConn struct {
	net.Conn
	rc syscall.RawConn

	hdr  [recordHeaderBytes]byte
	nhdr int  // bytes of the current header seen
	body int  // bytes of the current record still to come
	mark int  // the low-water mark set, 1 at first
	off  bool // not following records any more
}

// newRecordConn wraps raw when it is a TCP connection; anything else is
// returned as it is.
func newRecordConn(raw net.Conn) net.Conn {
	tcp, ok := raw.(*net.TCPConn)
	if !ok {
		return raw
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return raw
	}
	return &recordConn{Conn: raw, rc: rc, mark: 1}
}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.off {
		c.follow(p[:n])
		want := 1
		if c.body >= minLowWater && !c.off {
			want = c.body
		}
		if want != c.mark {
			c.setMark(want)
		}
	}
	return n, err
}

// follow advances the record tracking over b, the next bytes read.
func (c *recordConn) follow(b []byte) {
	for len(b) > 0 && !c.off {
		if c.body > 0 {
			k := min(c.body, len(b))
			c.body -= k
			b = b[k:]
			continue
		}
		k := copy(c.hdr[c.nhdr:], b)
		c.nhdr += k
		b = b[k:]
		if c.nhdr < recordHeaderBytes {
			return
		}
		c.nhdr = 0
		n := int(c.hdr[3])<<8 | int(c.hdr[4])
		// Content types 20 to 24, legacy version 3.x: anything else is
		// not a TLS record stream, which TLS reports itself.
		if c.hdr[0] < 20 || c.hdr[0] > 24 || c.hdr[1] != 3 || n > maxRecordBytes {
			c.off = true
			return
		}
		c.body = n
	}
}

// setMark sets the socket's receive low-water mark; a socket that refuses
// it is no longer tracked.
func (c *recordConn) setMark(n int) {
	var serr error
	err := c.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, n)
	})
	if err != nil || serr != nil {
		c.off = true
		if n != 1 {
			c.setMark(1)
		}
		return
	}
	c.mark = n
}
