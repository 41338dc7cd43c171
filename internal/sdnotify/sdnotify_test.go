package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

func read(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestSend(t *testing.T) {
	conn, path := listen(t)
	n := New(path)
	if !n.Enabled() {
		t.Fatal("a notifier with a socket is not enabled")
	}
	if err := n.Send(Ready, Status("watching 2 folders\nsecond line")); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, conn), "READY=1\nSTATUS=watching 2 folders second line"; got != want {
		t.Errorf("datagram %q, want %q", got, want)
	}
}

func TestNoSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv()
	if n.Enabled() {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	if err := n.Send(Ready); err != nil {
		t.Fatalf("a no-op notifier fails: %v", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		ok, err   bool
	}{
		{"", "", 0, false, false},
		{"30000000", "", 30 * time.Second, true, false},
		{"30000000", "1", 0, false, false}, // another process's watchdog
		{"0", "", 0, false, true},
		{"abc", "", 0, false, true},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		got, ok, err := WatchdogInterval()
		if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("WATCHDOG_USEC=%q PID=%q: %v %v %v", tc.usec, tc.pid, got, ok, err)
		}
	}
}
