package bench

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestProxyCounts sends different amounts each way through the proxy to an
// echo-and-reply server and checks the counts and that Close leaves no
// goroutine behind.
func TestProxyCounts(t *testing.T) {
	before := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const up, down = 3<<20 + 17, 1<<20 + 5
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the target: reads everything, then replies
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		if n != up {
			t.Errorf("target read %d bytes, want %d", n, up)
		}
		c.Write(bytes.Repeat([]byte{'r'}, down))
	}()
	p, err := StartProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(bytes.Repeat([]byte{'u'}, up)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite() // half-close must reach the target
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != down {
		t.Errorf("client read %d bytes (%v), want %d", n, err, down)
	}
	c.Close()
	wg.Wait()
	ln.Close()
	if gu, gd := p.Bytes(); gu != up || gd != down {
		t.Errorf("proxy counted %d up, %d down; want %d, %d", gu, gd, up, down)
	}
	if err := p.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after Close, %d before", g, before)
	}
}

// TestProxyCloseCutsOpenConnections: Close must not wait for peers that
// keep their connection open.
func TestProxyCloseCutsOpenConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	p, err := StartProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	tc := <-accepted
	defer tc.Close()
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on an open connection")
	}
}

// TestProxyStallAndCut checks that a stall holds data without closing the
// connection and Unstall delivers it, that StallAfterDown stalls the link
// on its own, and that Cut resets the connection.
func TestProxyStallAndCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // the target echoes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	p, err := StartProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo := func(msg string) (string, error) {
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		return string(buf), err
	}
	if got, err := echo("one"); err != nil || got != "one" {
		t.Fatalf("echo before the stall: %q, %v", got, err)
	}
	p.Stall()
	if _, err := c.Write([]byte("two")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 3)
	if n, err := c.Read(buf); n != 0 || err == nil {
		t.Fatalf("read %d bytes (%v) through a stalled link", n, err)
	}
	c.SetReadDeadline(time.Time{})
	p.Unstall()
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "two" {
		t.Fatalf("after Unstall: %q, %v", buf, err)
	}
	_, down := p.Bytes()
	p.StallAfterDown(down + 1)
	if got, err := echo("three"); err != nil || got != "three" {
		t.Fatalf("echo up to the stall point: %q, %v", got, err)
	}
	if _, err := c.Write([]byte("four")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(buf); n != 0 || err == nil {
		t.Fatalf("read %d bytes (%v) after the stall point", n, err)
	}
	c.SetReadDeadline(time.Time{})
	p.Unstall()
	p.Cut()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err == nil {
		t.Fatal("no error reading a cut connection")
	}
}
