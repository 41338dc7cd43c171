package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// TestPrintStatusSecondary: a secondary's status names the primary it
// follows (node, address, epoch, since when connected or not) and shows
// what it applied, refused, repaired and staged, and its conflict stores.
func TestPrintStatusSecondary(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.Local)
	folders := []report.Folder{{ID: "data", Path: "/srv/data", Seq: 120, Files: 10, Dirs: 2, Bytes: 4096,
		EntriesApplied: 118, EntriesRefused: 2, Repairs: 3}}
	stores := []report.ConflictStore{{Dir: "/var/lib/ncsync/conflicts", Folders: []string{"data"}, Records: 4, Bytes: 8192, MaxBytes: 1 << 30, MaxFiles: 10000}}
	for _, tc := range []struct {
		name string
		st   report.Node
		want []string
	}{
		{"connected", report.Node{Node: "nfs2", Role: pki.RoleSecondary, ClusterID: "c1", Epoch: 3, Started: now.Add(-time.Hour),
			Folders: folders, ConflictStores: stores,
			Peers: []report.Peer{{Node: "nfs1", Role: pki.RolePrimary, Address: "nfs1.example:7300", Epoch: 3, Connected: true,
				ConnectedSince: now.Add(-90 * time.Second), BytesReceived: 2048,
				Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 120, LagEntries: 5, Lag: 2 * time.Second, CatchingUp: true, CatchUpTo: 125}}}}},
			[]string{
				"following primary nfs1 at nfs1.example:7300, epoch 3: connected since 2026-12-07 05:58:30 (1m30s)\n",
				"APPLIED  REFUSED  REPAIRED",
				"118      2        3",
				"REPAIRED folder data: 3 local changes put back",
				"CONFLICT STORE /var/lib/ncsync/conflicts (folders data): 4 of 10000 records, 8.0 KiB of 1.0 GiB\n",
				"nfs1  primary  since 05:58:30",
				"2s (catching up to 125)",
			}},
		{"disconnected", report.Node{Node: "nfs2", Role: pki.RoleSecondary, Epoch: 3, Started: now.Add(-time.Hour), Folders: folders,
			StagedBytes: 3 << 20,
			Peers: []report.Peer{{Node: "nfs1", Role: pki.RolePrimary, Address: "nfs1.example:7300", Epoch: 3,
				DisconnectedSince: now.Add(-time.Minute), LastError: "connection refused",
				Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 120}}}}},
			[]string{
				"following primary nfs1 at nfs1.example:7300, epoch 3: disconnected since 2026-12-07 05:59:00 (1m0s): connection refused\n",
				"staged: 3.0 MiB received while paused, applied when the pause ends\n",
				"nfs1  primary  no, since 2026-12-07 05:59:00",
			}},
		{"never connected", report.Node{Node: "nfs2", Role: pki.RoleSecondary, Started: now, Folders: folders, Paused: true,
			Peers: []report.Peer{{Node: "nfs1", Role: pki.RolePrimary, Address: "nfs1.example:7300", LastError: "dial tcp: connection refused"}}},
			[]string{
				"following primary nfs1 at nfs1.example:7300: not connected yet: dial tcp: connection refused\n",
				"paused for a snapshot: the tree holds an earlier, consistent state of the primary's; 0 B staged",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			printStatus(&out, tc.st, now)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("no %q in\n%s", w, out.String())
				}
			}
		})
	}
}

// TestPrintStatusPrimary: a primary's status has no line about a
// followed primary, and its secondaries' rows say since when they are
// disconnected.
func TestPrintStatusPrimary(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.Local)
	st := report.Node{Node: "nfs1", Role: pki.RolePrimary, Epoch: 3, Started: now.Add(-time.Hour),
		Folders: []report.Folder{{ID: "data", Seq: 130, Watched: 4}},
		Peers: []report.Peer{{Node: "nfs2", Role: pki.RoleSecondary, LastSeen: now.Add(-time.Minute),
			Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 120, LagEntries: 10}}}}}
	var out bytes.Buffer
	printStatus(&out, st, now)
	if strings.Contains(out.String(), "following") || strings.Contains(out.String(), "REPAIRED") {
		t.Errorf("a primary's status shows a secondary's lines:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "nfs2  secondary  no, last seen 2026-12-07 05:59:00") {
		t.Errorf("no disconnected secondary row in\n%s", out.String())
	}
}
