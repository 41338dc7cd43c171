package control

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

type fakeNode struct{ st report.Node }

func (f fakeNode) Status(context.Context) (report.Node, error) { return f.st, nil }

func TestListenModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "ncsync", "control.sock")
	lis, err := Listen(path, Groups{})
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o750, path: 0o660} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}
	// A live socket is not taken over.
	if _, err := Listen(path, Groups{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Listen: %v, want an in-use error", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // leaves the socket file behind, as a crash does
	lis, err := Listen(path, Groups{})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	lis.Close()
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, Groups{}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("got %v, want a not-a-socket error", err)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	lis, err := Listen(path, Groups{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 123)
	want := report.Node{Node: "nfs1", Role: pki.RolePrimary, ClusterID: "c1", Epoch: 3, Started: now,
		Folders: []report.Folder{{ID: "data", Path: "/srv/data", Seq: 42, Files: 7, Dirs: 2, Bytes: 1 << 20, Scans: 5, LastScan: now, FilesHashed: 9, LastError: "x",
			Held: []report.Held{{Path: "config/config.php", Reason: "empty, held", Since: now, Until: now.Add(10 * time.Second)}}, HeldTotal: 3}},
		Peers: []report.Peer{{Node: "nfs2", Role: pki.RoleSecondary, Connected: true, Address: "127.0.0.1:1", ConnectedSince: now, LastSeen: now,
			Folders:   []report.PeerFolder{{Folder: "data", AckedSeq: 40, LagEntries: 2, LagBytes: 100, Lag: 1500 * time.Millisecond}},
			LastError: "y", BytesSent: 10, BytesReceived: 20}},
	}
	srv := NewServer(fakeNode{want}, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Started.Equal(want.Started) || !got.Folders[0].LastScan.Equal(now) || !got.Peers[0].LastSeen.Equal(now) {
		t.Fatalf("times differ: %+v", got)
	}
	got.Started, got.Folders[0].LastScan, got.Peers[0].LastSeen, got.Peers[0].ConnectedSince = want.Started, now, now, now
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("status differs:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestDialMissingSocket(t *testing.T) {
	_, err := Dial(filepath.Join(t.TempDir(), "nope.sock"))
	if err == nil || !strings.Contains(err.Error(), "ncsync run") {
		t.Fatalf("got %v, want advice to start the daemon", err)
	}
}
