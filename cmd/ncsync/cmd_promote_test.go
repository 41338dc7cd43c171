package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// promoteDaemon is a secondary as the control socket sees it.
type promoteDaemon struct {
	role     pki.Role
	calls    int
	expected uint64
	err      error
}

func (d *promoteDaemon) Status(context.Context) (report.Node, error) {
	return report.Node{Node: "nfs2", Role: d.role, Epoch: 3, Folders: []report.Folder{{ID: "data", Seq: 40}}}, nil
}

func (d *promoteDaemon) Promote(_ context.Context, expected uint64, _ bool) (map[string]uint64, error) {
	d.calls++
	d.expected = expected
	return map[string]uint64{"data": 40}, d.err
}

func TestRunPromote(t *testing.T) {
	for _, tc := range []struct {
		name      string
		role      pki.Role
		yes       bool
		input     string
		nodeErr   error
		wantCalls int
		wantErr   string
		wantOut   []string
	}{
		{"confirmed", "secondary", false, "yes\n", nil, 1, "", []string{"primary of epoch 4?", "folder data at sequence 40", `node "nfs2" is now the primary of epoch 4 (took over: data at 40)`}},
		{"--yes", "secondary", true, "", nil, 1, "", []string{"primary of epoch 4 (took over"}},
		{"declined", "secondary", false, "no\n", nil, 0, "not confirmed", []string{"primary of epoch 4?"}},
		{"no answer", "secondary", false, "", nil, 0, "not confirmed", nil},
		{"refused", "secondary", true, "", errors.New("this node holds 1 unverified or failed items"), 1, "unverified or failed items", nil},
		{"on a primary", "primary", true, "", nil, 0, "only a secondary can be promoted", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &promoteDaemon{role: tc.role, err: tc.nodeErr}
			o := promoteOptions{Yes: tc.yes, Timeout: 5 * time.Second}
			o.Socket = serveControl(t, d)
			var out bytes.Buffer
			err := runPromote(context.Background(), o, strings.NewReader(tc.input), &out)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if d.calls != tc.wantCalls || d.calls > 0 && d.expected != 4 {
				t.Errorf("promote called %d times with epoch %d", d.calls, d.expected)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestEnsureMetaRoles(t *testing.T) {
	id := pki.Identity{ClusterID: "c1", Node: "nfs2"}
	p1 := index.EpochMark{Epoch: 1, Node: "nfs1"}
	p2 := index.EpochMark{Epoch: 2, Node: "nfs2", Start: map[string]uint64{"data": 9}}
	for _, tc := range []struct {
		name    string
		meta    index.Meta
		role    pki.Role
		rejoin  bool
		wantErr string
		want    index.Meta
	}{
		{"first primary start opens epoch 1", index.Meta{}, pki.RolePrimary, false, "",
			index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 1}},
		{"first secondary start", index.Meta{}, pki.RoleSecondary, false, "",
			index.Meta{ClusterID: "c1", Node: "nfs2"}},
		{"secondary config on a promoted node", index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 2, Lineage: []index.EpochMark{p1, p2}, Promoted: true},
			pki.RoleSecondary, false, "promoted to primary of epoch 2", index.Meta{}},
		{"--rejoin lets it follow", index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 2, Lineage: []index.EpochMark{p1, p2}, Promoted: true},
			pki.RoleSecondary, true, "", index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 2, Lineage: []index.EpochMark{p1, p2}}},
		{"primary config after promotion", index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 2, Lineage: []index.EpochMark{p1, p2}, Promoted: true},
			pki.RolePrimary, false, "", index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 2, Lineage: []index.EpochMark{p1, p2}}},
		{"old primary with a secondary config", index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 2, Lineage: []index.EpochMark{p1, p2}},
			pki.RoleSecondary, false, "", index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 2, Lineage: []index.EpochMark{p1, p2}}},
		{"primary config on a follower", index.Meta{ClusterID: "c1", Node: "nfs2", Epoch: 1, Lineage: []index.EpochMark{p1}},
			pki.RolePrimary, false, `follows node "nfs1", the primary of epoch 1`, index.Meta{}},
		{"other cluster", index.Meta{ClusterID: "c0", Node: "nfs2"}, pki.RoleSecondary, false, "belongs to cluster c0", index.Meta{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.SetMeta(tc.meta); err != nil {
				t.Fatal(err)
			}
			cfg := &config.Config{Node: "nfs2", Role: tc.role, StateDir: t.TempDir(), Path: "/etc/ncsync/ncsync.yaml"}
			err = ensureMeta(db, cfg, id, tc.rejoin)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := db.Meta()
			if got.ClusterID != tc.want.ClusterID || got.Epoch != tc.want.Epoch || got.Promoted != tc.want.Promoted ||
				len(got.Lineage) != max(len(tc.want.Lineage), int(tc.want.Epoch)) {
				t.Errorf("meta = %+v, want %+v", got, tc.want)
			}
		})
	}
}
