package secondary

import (
	"errors"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/index"
)

func TestCheckLineage(t *testing.T) {
	t1 := index.EpochMark{Epoch: 1, Node: "p"}
	t2 := index.EpochMark{Epoch: 2, Node: "s1", Start: map[string]uint64{"data": 40}}
	t2other := index.EpochMark{Epoch: 2, Node: "s2", Start: map[string]uint64{"data": 38}}
	t2moved := index.EpochMark{Epoch: 2, Node: "s1", Start: map[string]uint64{"data": 41}}
	t3 := index.EpochMark{Epoch: 3, Node: "p", Start: map[string]uint64{"data": 90}}
	meta := func(l ...index.EpochMark) index.Meta {
		m := index.Meta{Node: "me", Lineage: l}
		if len(l) > 0 {
			m.Epoch = l[len(l)-1].Epoch
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		local   index.Meta
		node    string
		remote  []index.EpochMark
		next    *index.EpochMark // want
		refused string           // substring of the refusal; "" = accepted
	}{
		{"fresh node follows anyone", index.Meta{}, "p", []index.EpochMark{t1}, nil, ""},
		{"no history on either side", index.Meta{Epoch: 1}, "p", nil, nil, ""},
		{"same history", meta(t1), "p", []index.EpochMark{t1}, nil, ""},
		{"one promotion ahead", meta(t1), "s1", []index.EpochMark{t1, t2}, &t2, ""},
		{"two promotions ahead", meta(t1), "p", []index.EpochMark{t1, t2, t3}, &t2, ""},
		{"stale primary", meta(t1, t2), "p", []index.EpochMark{t1}, nil, "it is at epoch 1 but this node has seen epoch 2: it is stale"},
		{"split brain, same epoch", meta(t1, t2), "s2", []index.EpochMark{t1, t2other}, nil, "different history"},
		{"same term, other start", meta(t1, t2), "s1", []index.EpochMark{t1, t2moved}, nil, "different history"},
		{"other history, newer epoch", meta(t1, t2other), "p", []index.EpochMark{t1, t2, t3}, nil, "different history"},
		{"lineage not ending in its epoch", meta(t1), "s1", []index.EpochMark{t1}, nil, "does not end in its own epoch"},
		{"lineage names another node", meta(t1), "x", []index.EpochMark{t1, t2}, nil, "does not end in its own epoch"},
		{"no lineage", meta(t1), "p", nil, nil, "does not end in its own epoch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epoch := uint64(0)
			if n := len(tc.remote); n > 0 {
				epoch = tc.remote[n-1].Epoch
			}
			switch tc.name {
			case "lineage not ending in its epoch":
				epoch = 2
			case "no lineage", "no history on either side":
				epoch = 1
			}
			next, err := checkLineage(tc.local, tc.node, epoch, tc.remote)
			if tc.refused != "" {
				var le *LineageError
				if !errors.As(err, &le) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("err = %v, want a LineageError containing %q", err, tc.refused)
				}
				if le.PrimaryEpoch != epoch || le.LocalEpoch != tc.local.Epoch {
					t.Errorf("epochs in error = %d, %d", le.PrimaryEpoch, le.LocalEpoch)
				}
				msg := err.Error()
				if !strings.Contains(msg, "epoch") || !strings.Contains(msg, tc.node) {
					t.Errorf("message %q does not name the primary and epochs", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			switch {
			case tc.next == nil && next != nil:
				t.Errorf("next = %+v, want none", *next)
			case tc.next != nil && (next == nil || next.Epoch != tc.next.Epoch || next.Node != tc.next.Node):
				t.Errorf("next = %+v, want %+v", next, *tc.next)
			}
		})
	}
}
