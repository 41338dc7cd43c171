package control

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type promoteNode struct {
	fakeNode
	gotEpoch uint64
	gotForce bool
	start    map[string]uint64
	err      error
}

func (n *promoteNode) Promote(_ context.Context, expected uint64, force bool) (map[string]uint64, error) {
	n.gotEpoch, n.gotForce = expected, force
	return n.start, n.err
}

func TestPromoteRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		node    *promoteNode
		epoch   uint64
		force   bool
		wantErr string
	}{
		{"promoted", &promoteNode{start: map[string]uint64{"data": 40, "web": 7}}, 2, false, ""},
		{"forced", &promoteNode{start: map[string]uint64{"data": 1}}, 5, true, ""},
		{"refused with items", &promoteNode{err: errors.New("this node holds 2 unverified or failed items")}, 2, false, "2 unverified or failed items"},
		{"no epoch", &promoteNode{}, 0, false, "no epoch confirmed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, tc.node)
			epoch, start, err := c.Promote(context.Background(), tc.epoch, tc.force)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if epoch != tc.epoch || !reflect.DeepEqual(start, tc.node.start) || tc.node.gotEpoch != tc.epoch || tc.node.gotForce != tc.force {
				t.Errorf("epoch %d start %v (node saw %d, %v)", epoch, start, tc.node.gotEpoch, tc.node.gotForce)
			}
		})
	}
}

func TestPromoteNotASecondary(t *testing.T) {
	c := serve(t, fakeNode{})
	if _, _, err := c.Promote(context.Background(), 2, false); err == nil || !strings.Contains(err.Error(), "only a running secondary") {
		t.Fatalf("err = %v", err)
	}
}
