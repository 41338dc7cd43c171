package main

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/ncsync/ncsync/control"
)

// serveControl serves node on a control socket for the test's duration and
// returns the socket's path.
func serveControl(t *testing.T, node control.Node) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.sock")
	lis, err := control.Listen(path, control.Groups{})
	if err != nil {
		t.Fatal(err)
	}
	srv := control.NewServer(node, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return path
}
