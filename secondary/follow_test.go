package secondary

import (
	"testing"

	"github.com/ncsync/ncsync/index"
)

// TestExpectedPrimary: the node a secondary follows comes from its config
// until a promotion is learned from the lineage, which a restart keeps
// (it is in the index meta); a config naming a node new to the lineage
// wins again; an old primary that rejoins follows its config.
func TestExpectedPrimary(t *testing.T) {
	l := func(nodes ...string) index.Meta {
		var m index.Meta
		for i, n := range nodes {
			m.Lineage = append(m.Lineage, index.EpochMark{Epoch: uint64(i + 1), Node: n})
			m.Epoch = uint64(i + 1)
		}
		return m
	}
	for _, tc := range []struct {
		name       string
		meta       index.Meta
		configured string
		want       followed
	}{
		{"fresh node", index.Meta{}, "nfs1", followed{node: "nfs1"}},
		{"following the configured node", l("nfs1"), "nfs1", followed{node: "nfs1"}},
		{"promotion learned, config unchanged", l("nfs1", "nfs2"), "nfs1", followed{node: "nfs2", learnedEpoch: 2}},
		{"config pointed at the new primary", l("nfs1", "nfs2"), "nfs2", followed{node: "nfs2"}},
		{"config pointed at a node new to the lineage", l("nfs1", "nfs2"), "nfs4", followed{node: "nfs4"}},
		{"old primary rejoining", l("me"), "nfs2", followed{node: "nfs2"}},
		{"re-promoted node learned", l("nfs1", "nfs2", "nfs1"), "nfs2", followed{node: "nfs1", learnedEpoch: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := expectedPrimary(tc.meta, "me", tc.configured); got != tc.want {
				t.Errorf("expectedPrimary = %+v, want %+v", got, tc.want)
			}
		})
	}
}
