package primary

import (
	"fmt"
	"maps"
	"time"

	"github.com/ncsync/ncsync/index"
)

// TakeOver makes node the primary of a new epoch in db (a promotion): it
// appends EpochMark{Epoch: current+1, Node: node, Start: the head of each
// folder} to the lineage and raises the epoch, durably, before the caller
// starts the primary with New. Start is the last sequence the new term
// inherits: every entry it journals comes after it, and a node that holds
// entries after it from the old term has diverged (see package secondary,
// rejoin). promoted records that the node's config still says secondary
// (index.Meta.Promoted).
//
// expected, if not zero, is the epoch the operator confirmed: TakeOver
// fails when it is not current+1, so that two promotions racing (or a
// confirmation made before another promotion reached this node) cannot
// both succeed.
func TakeOver(db *index.DB, node string, folders []string, expected uint64, promoted bool) (index.EpochMark, error) {
	m, err := db.Meta()
	if err != nil {
		return index.EpochMark{}, err
	}
	if m.ClusterID == "" {
		return index.EpochMark{}, fmt.Errorf("take over: the index has no cluster identity yet (it never ran)")
	}
	if m.Leads(node) {
		return index.EpochMark{}, fmt.Errorf("take over: node %q is already the primary of epoch %d", node, m.Epoch)
	}
	next := m.Epoch + 1
	if expected != 0 && expected != next {
		return index.EpochMark{}, fmt.Errorf("take over: promotion was confirmed for epoch %d, but this node is at epoch %d and would start epoch %d: check `ncsync status` and confirm again",
			expected, m.Epoch, next)
	}
	mk := index.EpochMark{Epoch: next, Node: node, Start: make(map[string]uint64, len(folders)), StartedNs: time.Now().UnixNano()}
	for _, id := range folders {
		if mk.Start[id], err = db.Head(id); err != nil {
			return index.EpochMark{}, err
		}
	}
	m.Epoch, m.Node, m.Promoted = next, node, promoted
	m.Lineage = append(m.Lineage, index.EpochMark{Epoch: mk.Epoch, Node: mk.Node, Start: maps.Clone(mk.Start), StartedNs: mk.StartedNs})
	if err := db.SetMeta(m); err != nil {
		return index.EpochMark{}, err
	}
	return mk, nil
}
