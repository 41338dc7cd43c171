package secondary

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ncsync/ncsync/index"
)

// LineageError is a primary refused because its history does not continue
// this node's: it is at an older epoch than this node has seen (a stale
// primary), or its epoch history differs from this node's (another
// promotion happened, a split brain). Following it would replicate over
// newer data or mix two histories.
type LineageError struct {
	Primary      string // the primary's node name
	PrimaryEpoch uint64
	LocalEpoch   uint64 // the newest epoch this node has seen
	Reason       string
}

func (e *LineageError) Error() string {
	return fmt.Sprintf("refusing to follow primary %q: it is at epoch %d but this node has seen epoch %d: %s",
		e.Primary, e.PrimaryEpoch, e.LocalEpoch, e.Reason)
}

// successor is what a compatible primary's lineage adds to this node's:
// nil when both are the same history, else the first term this node has
// not followed. Its Start per folder is the divergence point: entries this
// node holds after it were never seen by that term.
type successor = *index.EpochMark

// checkLineage decides whether this node (meta local) may follow a primary
// named node at epoch with lineage remote. It may if remote extends local:
// every term of local is in remote, at the same place with the same start.
// A node that has seen no epoch yet follows anyone of its cluster.
func checkLineage(local index.Meta, node string, epoch uint64, remote []index.EpochMark) (successor, error) {
	refuse := func(format string, args ...any) (successor, error) {
		return nil, &LineageError{Primary: node, PrimaryEpoch: epoch, LocalEpoch: local.Epoch, Reason: fmt.Sprintf(format, args...)}
	}
	if epoch < local.Epoch {
		return refuse("it is stale (an old primary that was replaced by a promotion); restart it as a secondary of the current primary")
	}
	if len(remote) == 0 && len(local.Lineage) == 0 {
		return nil, nil // neither side has a history to compare
	}
	if n := len(remote); n == 0 || remote[n-1].Epoch != epoch || remote[n-1].Node != node {
		return refuse("its lineage %s does not end in its own epoch", describeLineage(remote))
	}
	if local.Leads(node) && node == local.Node && len(remote) == len(local.Lineage) {
		return refuse("it claims this node's own term")
	}
	if local.Epoch == 0 || len(local.Lineage) == 0 {
		return nil, nil
	}
	if len(remote) < len(local.Lineage) {
		return refuse("its lineage %s is shorter than this node's %s", describeLineage(remote), describeLineage(local.Lineage))
	}
	for i, mk := range local.Lineage {
		r := remote[i]
		if r.Epoch != mk.Epoch || r.Node != mk.Node || !maps.Equal(r.Start, mk.Start) {
			return refuse("different history: its lineage is %s, this node's %s (two nodes were promoted; this node's tree may hold changes that primary lacks: copy what must be kept, then move this node's state_dir away and start it again to copy the primary's tree)",
				describeLineage(remote), describeLineage(local.Lineage))
		}
	}
	if len(remote) == len(local.Lineage) {
		return nil, nil
	}
	next := remote[len(local.Lineage)]
	return &next, nil
}

// describeLineage renders a lineage for messages: "1.nfs1 → 2.nfs2@{data:40}".
func describeLineage(l []index.EpochMark) string {
	if len(l) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for i, mk := range l {
		if i > 0 {
			b.WriteString(" → ")
		}
		fmt.Fprintf(&b, "%d.%s", mk.Epoch, mk.Node)
		if len(mk.Start) > 0 {
			b.WriteString("@{")
			first := true
			for _, f := range slices.Sorted(maps.Keys(mk.Start)) {
				if !first {
					b.WriteString(",")
				}
				first = false
				fmt.Fprintf(&b, "%s:%d", f, mk.Start[f])
			}
			b.WriteString("}")
		}
	}
	return b.String()
}
