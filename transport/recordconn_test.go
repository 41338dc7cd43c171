package transport

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func lowWater(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT) }); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}

func recordHeader(n int) []byte { return []byte{23, 3, 3, byte(n >> 8), byte(n)} }

// readN reads exactly n bytes through c.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecordConnLowWater: while a record is incomplete the socket wakes
// its reader only for the rest of it; at a boundary, or with a small rest,
// for any byte.
func TestRecordConnLowWater(t *testing.T) {
	raw, peer := tcpPair(t)
	c := newRecordConn(raw)
	if _, ok := c.(*recordConn); !ok {
		t.Fatalf("a TCP connection is not wrapped: %T", c)
	}
	body := make([]byte, 12000)
	_, _ = rand.Read(body)
	// A header and the start of a 12,000-byte record.
	if _, err := peer.Write(append(recordHeader(len(body)), body[:1000]...)); err != nil {
		t.Fatal(err)
	}
	readN(t, c, 1005)
	if got := lowWater(t, raw); got != 11000 {
		t.Errorf("low-water mark with 11,000 bytes of the record to come: %d", got)
	}
	// The rest, and most of a small record: woken for any byte.
	if _, err := peer.Write(append(append(body[1000:], recordHeader(300)...), body[:200]...)); err != nil {
		t.Fatal(err)
	}
	readN(t, c, 11000+5+200)
	if got := lowWater(t, raw); got != 1 {
		t.Errorf("low-water mark with 100 bytes to come: %d, want 1", got)
	}
	// Not a TLS record: no longer followed.
	if _, err := peer.Write(append(body[200:300], 'G', 'E', 'T', ' ', '/', 'x', 'x')); err != nil {
		t.Fatal(err)
	}
	readN(t, c, 107)
	if !c.(*recordConn).off {
		t.Error("still following records after a header that is not TLS")
	}
}

// TestRecordConnTLS: a TLS stream through recordConn delivers bulk
// records and small messages between them, each as soon as it is whole:
// a small message written after a large one is not held back.
func TestRecordConnTLS(t *testing.T) {
	p := cluster(t)
	raw, peer := tcpPair(t)
	srvConf := p.serverTLS(t, "p1")
	cliConf := p.clientTLS(t, "s1")
	cliConf.ServerName = "p1"
	srv := tls.Server(peer, srvConf)
	cli := tls.Client(newRecordConn(raw), cliConf)
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	bulk := make([]byte, 1<<20)
	_, _ = rand.Read(bulk)
	for round := range 20 {
		// Bulk in full records, then a message smaller than a segment,
		// which the reader must get without anything written after it.
		go func() {
			if _, err := srv.Write(bulk[:len(bulk)-round*977]); err != nil {
				errc <- err
				return
			}
			_, err := srv.Write([]byte("ack"))
			errc <- err
		}()
		got := readN(t, cli, len(bulk)-round*977)
		if !bytes.Equal(got, bulk[:len(got)]) {
			t.Fatalf("round %d: bulk data differs", round)
		}
		if got := readN(t, cli, 3); string(got) != "ack" {
			t.Fatalf("round %d: %q, want ack", round, got)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if got := lowWater(t, raw); got != 1 {
			t.Fatalf("round %d: low-water mark %d between messages, want 1", round, got)
		}
	}
	if cli.NetConn().(*recordConn).off {
		t.Error("stopped following the records of a TLS stream")
	}
}
