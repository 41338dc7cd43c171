package conflict

import (
	"errors"
	"testing"
)

// The failover scenario: p led epoch 1; s took over at sequence
// 100 and leads epoch 2. oldP is p's own lineage (it never saw epoch 2).
var (
	oldP = []Term{{Epoch: 1, Node: "p", Start: 0}}
	newS = []Term{{Epoch: 1, Node: "p", Start: 0}, {Epoch: 2, Node: "s", Start: 100}}
)

func TestVectorOf(t *testing.T) {
	tests := []struct {
		name    string
		lineage []Term
		stamp   Stamp
		want    string
		err     error
	}{
		{"never written", newS, Stamp{}, "{}", nil},
		{"first term", oldP, Stamp{1, "p", 50}, "{1.p:50}", nil},
		{"old primary after divergence", oldP, Stamp{1, "p", 103}, "{1.p:103}", nil},
		{"inherited entry on new primary", newS, Stamp{1, "p", 50}, "{1.p:50}", nil},
		{"new primary's own entry", newS, Stamp{2, "s", 105}, "{1.p:100,2.s:105}", nil},
		{"third term", append(newS[:2:2], Term{3, "p", 200}), Stamp{3, "p", 250}, "{1.p:100,2.s:200,3.p:250}", nil},
		{"empty first term", []Term{{1, "p", 0}, {2, "s", 0}}, Stamp{2, "s", 5}, "{2.s:5}", nil},
		{"unknown term", newS, Stamp{2, "x", 105}, "", ErrUnknownTerm},
		{"unknown epoch", oldP, Stamp{2, "s", 105}, "", ErrUnknownTerm},
		{"seq at term start", newS, Stamp{2, "s", 100}, "", ErrBadLineage},
		{"epochs not ascending", []Term{{2, "s", 0}, {2, "p", 10}}, Stamp{2, "s", 5}, "", ErrBadLineage},
		{"start going back", []Term{{1, "p", 50}, {2, "s", 10}}, Stamp{1, "p", 60}, "", ErrBadLineage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := VectorOf(tc.lineage, tc.stamp)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("VectorOf = %s, %v; want %v", v, err, tc.err)
				}
				return
			}
			if err != nil || v.String() != tc.want {
				t.Fatalf("VectorOf = %s, %v; want %s", v, err, tc.want)
			}
		})
	}
}

// TestVectorOfOrders checks the orders the rejoin relies on: the divergence
// point decides, not the raw sequence numbers (which both branches reuse).
func TestVectorOfOrders(t *testing.T) {
	vec := func(l []Term, s Stamp) Vector {
		v, err := VectorOf(l, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name          string
		local, remote Vector
		want          Order
	}{
		{"unchanged on both", vec(oldP, Stamp{1, "p", 50}), vec(newS, Stamp{1, "p", 50}), Equal},
		{"changed on old primary only", vec(oldP, Stamp{1, "p", 103}), vec(newS, Stamp{1, "p", 50}), ANewer},
		{"changed on new primary only", vec(oldP, Stamp{1, "p", 50}), vec(newS, Stamp{2, "s", 105}), BNewer},
		{"changed on both", vec(oldP, Stamp{1, "p", 103}), vec(newS, Stamp{2, "s", 105}), Concurrent},
		{"same sequence, different branches", vec(oldP, Stamp{1, "p", 101}), vec(newS, Stamp{2, "s", 101}), Concurrent},
		{"new primary took it before divergence", vec(oldP, Stamp{1, "p", 100}), vec(newS, Stamp{2, "s", 101}), BNewer},
		{"split brain in one epoch",
			vec([]Term{{1, "p", 0}, {2, "a", 100}}, Stamp{2, "a", 101}),
			vec([]Term{{1, "p", 0}, {2, "b", 100}}, Stamp{2, "b", 101}), Concurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compare(tc.local, tc.remote); got != tc.want {
				t.Errorf("Compare(%s, %s) = %v, want %v", tc.local, tc.remote, got, tc.want)
			}
		})
	}
}
