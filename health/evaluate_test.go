package health

import (
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

func TestEvaluate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	th := Thresholds{MaxLag: 10 * time.Second, MaxDisconnected: 30 * time.Second}
	started := now.Add(-time.Hour)
	sec := func(p report.Peer, mod ...func(*report.Node)) report.Node {
		p.Role = "primary"
		n := report.Node{Role: pki.RoleSecondary, Started: started, Folders: []report.Folder{{ID: "data"}}, Peers: []report.Peer{p}}
		for _, m := range mod {
			m(&n)
		}
		return n
	}
	inStep := []report.PeerFolder{{Folder: "data", AckedSeq: 10, CatchUpTo: 8}}
	for _, tc := range []struct {
		name   string
		st     report.Node
		want   State
		reason string
	}{
		{"primary", report.Node{Role: pki.RolePrimary, Folders: []report.Folder{{ID: "data"}}}, Up, "primary"},
		{"primary scan failing", report.Node{Role: pki.RolePrimary, Folders: []report.Folder{{ID: "data", LastError: "scan: no space left on device"}}}, Down, "no space left"},
		{"in step", sec(report.Peer{Connected: true, Folders: inStep}), Up, "in step"},
		{"just started", sec(report.Peer{Folders: []report.PeerFolder{{Folder: "data", CatchingUp: true}}}, func(n *report.Node) { n.Started = now.Add(-5 * time.Second) }), Down, "catching up"},
		{"catching up", sec(report.Peer{Connected: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 3, CatchingUp: true, CatchUpTo: 90}}}), Down, "at 3 of 90"},
		{"lagging", sec(report.Peer{Connected: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 50, CatchUpTo: 8, LagEntries: 4, Lag: 11 * time.Second}}}), Down, "lags 11s"},
		{"lag within bound", sec(report.Peer{Connected: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 50, LagEntries: 4, Lag: 9 * time.Second}}}), Up, ""},
		{"briefly disconnected", sec(report.Peer{LastSeen: now, DisconnectedSince: now.Add(-20 * time.Second), Folders: inStep}), Up, "reconnecting"},
		{"disconnected too long", sec(report.Peer{LastSeen: now, DisconnectedSince: now.Add(-31 * time.Second), LastError: "connection refused", Folders: inStep}), Down, "disconnected from the primary for 31s: connection refused"},
		{"refusing entries", sec(report.Peer{Connected: true, Folders: inStep}, func(n *report.Node) { n.Folders[0].LastError = "path escapes" }), Down, "refuses entries"},
		{"conflict store full", sec(report.Peer{Connected: true, Folders: inStep}, func(n *report.Node) {
			n.Folders[0].LastError = "conflict store full"
			n.Folders[0].ConflictStoreFull = &report.ConflictStoreFull{Path: "a/b.txt", Store: "/var/lib/ncsync/conflicts"}
		}), Down, `folder data waits at "a/b.txt": no room in the conflict store`},
		{"paused", sec(report.Peer{Connected: true, Folders: inStep}, func(n *report.Node) { n.Paused = true }), Drain, "paused"},
		// The pause holds it behind the primary's head: drained, not down.
		{"paused, the primary moved on", sec(report.Peer{Connected: true, Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 50, CatchingUp: true, CatchUpTo: 90, LagEntries: 40, Lag: time.Hour}}},
			func(n *report.Node) { n.Paused = true }), Drain, "paused"},
		{"paused and refusing entries", sec(report.Peer{Connected: true, Folders: inStep}, func(n *report.Node) {
			n.Paused = true
			n.Folders[0].LastError = "path escapes"
		}), Down, "refuses entries"},
		{"paused and disconnected too long", sec(report.Peer{DisconnectedSince: now.Add(-time.Minute), Folders: inStep}, func(n *report.Node) { n.Paused = true }), Down, "disconnected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Evaluate(tc.st, th, now)
			if v.State != tc.want || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("got %v %q, want %v with %q", v.State, v.Reason, tc.want, tc.reason)
			}
		})
	}
}
