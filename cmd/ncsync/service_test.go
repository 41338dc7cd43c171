package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncsync/ncsync/internal/sdnotify"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// fakeStatus reports what the test sets, or blocks when hang is set.
type fakeStatus struct {
	mu   sync.Mutex
	st   report.Node
	hang bool
}

func (f *fakeStatus) set(st report.Node, hang bool) {
	f.mu.Lock()
	f.st, f.hang = st, hang
	f.mu.Unlock()
}

func (f *fakeStatus) Status(ctx context.Context) (report.Node, error) {
	f.mu.Lock()
	st, hang := f.st, f.hang
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return report.Node{}, ctx.Err()
	}
	return st, nil
}

func TestSuperviseService(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("WATCHDOG_USEC", "300000")
	t.Setenv("WATCHDOG_PID", "")

	src := &fakeStatus{}
	src.set(report.Node{Role: pki.RoleSecondary, Peers: []report.Peer{{Node: "nfs1", Role: pki.RolePrimary, Address: "nfs1:7300", LastError: "connection refused"}}}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		superviseService(ctx, src, sdnotify.New(path), slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()

	recv := func() string {
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return ""
			}
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	// Not ready while the primary is unreachable; watchdog fed, status says why.
	first := recv()
	if strings.Contains(first, "READY=1") || !strings.Contains(first, "WATCHDOG=1") || !strings.Contains(first, "connecting to nfs1 at nfs1:7300: connection refused") {
		t.Fatalf("first notification %q", first)
	}
	src.set(report.Node{Role: pki.RoleSecondary, Peers: []report.Peer{{Role: pki.RolePrimary, Address: "nfs1:7300", Connected: true}}}, false)
	for msg := recv(); !strings.Contains(msg, "READY=1"); msg = recv() {
		if msg == "" {
			t.Fatal("no READY=1 after the secondary connected")
		}
	}
	// A hung status report stops the watchdog.
	src.set(report.Node{}, true)
	time.Sleep(200 * time.Millisecond) // let a fed tick already under way finish
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		if err == nil && strings.Contains(string(buf[:n]), "WATCHDOG=1") {
			t.Fatalf("watchdog fed while status hangs: %q", buf[:n])
		}
	}
	cancel()
	<-done
	if msg := recv(); !strings.Contains(msg, "STOPPING=1") {
		t.Errorf("no STOPPING=1 at the end: %q", msg)
	}
}

func TestNodeReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   report.Node
		want bool
	}{
		{"primary scanning", report.Node{Role: pki.RolePrimary, Folders: []report.Folder{{Scans: 1}, {Scans: 0}}}, false},
		{"primary scanned", report.Node{Role: pki.RolePrimary, Folders: []report.Folder{{Scans: 1}, {Scans: 2}}}, true},
		{"secondary waiting", report.Node{Role: pki.RoleSecondary, Peers: []report.Peer{{Role: pki.RolePrimary}}}, false},
		{"secondary connected", report.Node{Role: pki.RoleSecondary, Peers: []report.Peer{{Role: pki.RolePrimary, Connected: true}}}, true},
	} {
		if got := nodeReady(tc.st); got != tc.want {
			t.Errorf("%s: ready %v, want %v", tc.name, got, tc.want)
		}
	}
}
