package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// signalDaemon is a primary whose pause is made while SIGTERM reaches the
// snapshot command.
type signalDaemon struct {
	delay   time.Duration // between the signal and the pause's answer
	resumes atomic.Int32
}

func (d *signalDaemon) Status(context.Context) (report.Node, error) {
	return report.Node{Node: "nfs1", Role: pki.RolePrimary}, nil
}

func (d *signalDaemon) Pause(ctx context.Context, peer string, ttl time.Duration) (report.Pause, error) {
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		return report.Pause{}, err
	}
	time.Sleep(d.delay)
	return report.Pause{ID: "p1", Peer: peer, Expires: time.Now().Add(ttl)}, nil
}

func (d *signalDaemon) Resume(_ context.Context, peer string) (report.Pause, error) {
	d.resumes.Add(1)
	return report.Pause{ID: "p1", Peer: peer}, nil
}

// TestSnapshotSignalWhilePausing: SIGTERM that comes while the pause is
// being made, or just as it is made, stops the snapshot: CMD never runs,
// the exit code says SIGTERM, and a pause that was made ends.
func TestSnapshotSignalWhilePausing(t *testing.T) {
	for _, delay := range []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond} {
		d := &signalDaemon{delay: delay}
		o := snapshotOptions{}
		o.Socket = serveControl(t, d)
		o.ConfigPath = defaultConfig
		o.Peer, o.TTL, o.Timeout = "nfs2", time.Minute, 10*time.Second
		ran := filepath.Join(t.TempDir(), "ran")
		var out, errOut bytes.Buffer
		done := make(chan error, 1)
		go func() {
			done <- runSnapshot(context.Background(), o, []string{"sh", "-c", "touch " + ran + "; sleep 30"}, &out, &errOut)
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("delay %v: the snapshot did not stop on SIGTERM; stderr: %s", delay, errOut.String())
		}
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 128+int(syscall.SIGTERM) {
			t.Errorf("delay %v: snapshot returned %v, want exit code %d", delay, err, 128+int(syscall.SIGTERM))
		}
		// With no delay the answer may win: CMD then starts and gets the
		// signal. Otherwise the signal comes first and CMD never runs.
		if _, err := os.Stat(ran); err == nil && delay > 0 {
			t.Errorf("delay %v: CMD ran after SIGTERM", delay)
		}
		if d.resumes.Load() != 1 {
			t.Errorf("delay %v: %d resumes, want 1: the pause must end", delay, d.resumes.Load())
		}
	}
}
