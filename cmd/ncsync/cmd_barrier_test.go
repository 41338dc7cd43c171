package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// barrierDaemon is a primary as the control socket sees it, answering
// barriers with a fixed outcome after one progress report.
type barrierDaemon struct {
	progress report.BarrierProgress
	outcome  report.BarrierProgress
	err      error
}

func (d *barrierDaemon) Status(context.Context) (report.Node, error) {
	return report.Node{Node: "nfs1", Role: pki.RolePrimary}, nil
}

func (d *barrierDaemon) Barrier(_ context.Context, _ control.BarrierRequest, progress func(report.BarrierProgress)) (report.BarrierProgress, error) {
	progress(d.progress)
	return d.outcome, d.err
}

var lagging = report.BarrierProgress{
	Target: []report.Position{{Folder: "data", Seq: 311}},
	Peers: []report.BarrierPeer{
		{Node: "nfs2", Connected: true, Reached: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 311}}},
		{Node: "nfs3", Message: "disconnected, last seen 2026-11-22 10:54:20",
			Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 310, LagEntries: 1, LagBytes: 24}}},
	},
}

func TestRunBarrier(t *testing.T) {
	reached := lagging
	reached.Done, reached.Reached, reached.Message = true, true, "barrier reached: nfs2, nfs3 hold every change up to data@311 (took 3ms)"
	timedOut := lagging
	timedOut.Done, timedOut.Message = true, "barrier not reached within 4s: nfs3 (disconnected): folder data at 310 of 311, 1 entries (24 B) left"
	tests := []struct {
		name    string
		opts    barrierOptions
		daemon  *barrierDaemon
		code    int    // 0: success
		out     string // in stdout
		errText string // in the error
	}{
		{name: "reached", daemon: &barrierDaemon{progress: lagging, outcome: reached}, out: "barrier reached: nfs2, nfs3"},
		{name: "timed out", daemon: &barrierDaemon{progress: lagging, outcome: timedOut}, code: exitTimeout,
			errText: "nfs3 (disconnected): folder data at 310 of 311"},
		{name: "failed", daemon: &barrierDaemon{progress: lagging, err: errors.New(`peer "nfs9" is not configured`)}, code: exitFailure,
			errText: `barrier: peer "nfs9" is not configured`},
		{name: "zero timeout", opts: barrierOptions{Timeout: -1}, code: exitUsage, errText: "--timeout"},
		{name: "empty peer", opts: barrierOptions{Peers: []string{" "}}, code: exitUsage, errText: "--peer: empty name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			if o.Timeout == 0 {
				o.Timeout = 10 * time.Second
			}
			if tc.daemon != nil {
				o.Socket = serveControl(t, tc.daemon)
			}
			var out, errOut bytes.Buffer
			err := runBarrier(context.Background(), o, &out, &errOut, false)
			code := 0
			var ee *exitError
			switch {
			case errors.As(err, &ee):
				code = ee.code
			case err != nil:
				code = exitFailure
			}
			if code != tc.code {
				t.Fatalf("exit %d (%v), want %d\nstdout: %s\nstderr: %s", code, err, tc.code, &out, &errOut)
			}
			if tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)) {
				t.Errorf("error %v, want it to contain %q", err, tc.errText)
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("stdout %q, want it to contain %q", &out, tc.out)
			}
			if tc.daemon != nil && !strings.Contains(errOut.String(), "nfs3         DISCONNECTED  data: at 310, 1 entries (24 B) left") {
				t.Errorf("progress on stderr %q does not show nfs3's lag", &errOut)
			}
		})
	}
}

func TestBarrierPrinter(t *testing.T) {
	t.Run("terminal rewrites its lines", func(t *testing.T) {
		var b bytes.Buffer
		p := &barrierPrinter{w: &b, tty: true}
		p.show(lagging)
		p.show(lagging)
		got := b.String()
		if strings.Count(got, "\x1b[3A") != 1 || strings.Count(got, "\x1b[2K") != 6 {
			t.Fatalf("want 3 lines drawn twice, moving up once: %q", got)
		}
	})
	t.Run("plain prints changes only", func(t *testing.T) {
		var b bytes.Buffer
		p := &barrierPrinter{w: &b}
		p.show(lagging)
		again := lagging
		again.Peers = append([]report.BarrierPeer(nil), lagging.Peers...)
		again.Peers[1].Folders = []report.PeerFolder{{Folder: "data", AckedSeq: 310, LagEntries: 1, LagBytes: 20}}
		p.show(again) // only numbers changed
		if n := strings.Count(b.String(), "barrier: waiting"); n != 1 {
			t.Fatalf("printed %d times, want once:\n%s", n, &b)
		}
		again.Peers[1].Connected = true
		p.show(again)
		if n := strings.Count(b.String(), "barrier: waiting"); n != 2 {
			t.Fatalf("printed %d times after nfs3 connected, want twice:\n%s", n, &b)
		}
	})
}

func TestPrintBarriers(t *testing.T) {
	now := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	peers := []report.Peer{
		{Node: "nfs2", Connected: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 311}, {Folder: "web", AckedSeq: 9}}},
		{Node: "nfs3", Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 300}}},
	}
	printBarriers(&b, []report.Barrier{
		{ID: "b1", Since: now.Add(-3 * time.Second)},
		{ID: "b2", Peers: []string{"nfs2", "nfs3", "nfs4"}, Target: []report.Position{{Folder: "data", Seq: 311}, {Folder: "web", Seq: 9}}, Since: now.Add(-90 * time.Second)},
	}, peers, now)
	want := "BARRIER b1 waiting 3s for every secondary (journaling pending changes)\n" +
		"BARRIER b2 waiting 1m30s for nfs2, nfs3, nfs4 up to data@311, web@9\n" +
		"  nfs2         acknowledged data@311, web@9\n" +
		"  nfs3         acknowledged data@300 (11 behind), web@0 (9 behind)  disconnected\n" +
		"  nfs4         not in the peer list\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", &b, want)
	}
}
