package transport

import (
	"io"
	"net"
	"testing"
)

// TestConnTable tracks a loopback connection: its socket's busy time can
// be read by its remote address while it is open, and it leaves the table
// when closed.
func TestConnTable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		c, err := lis.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	client, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var tab connTable
	// The table is keyed by the remote address, as the server sees it.
	conn := tab.track(client, client)
	if _, err := conn.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	probe := tab.linkBusy(client.RemoteAddr().String())
	if probe == nil {
		t.Fatal("no probe for a tracked connection")
	}
	if busy, ok := probe(); !ok || busy < 0 {
		t.Errorf("busy time %v, known %v, after sending 1 MiB", busy, ok)
	}
	if tab.linkBusy("127.0.0.1:1") != nil {
		t.Error("a probe for an unknown address")
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if tab.linkBusy(client.RemoteAddr().String()) != nil || len(tab.conns) != 0 {
		t.Errorf("a closed connection is still tracked: %v", tab.conns)
	}
}
