package conflict

import (
	"strings"
	"testing"
)

var (
	fileA = State{Kind: File, Content: [32]byte{1}, Size: 1, Mode: 0o644, MtimeNs: 5}
	fileB = State{Kind: File, Content: [32]byte{2}, Size: 1, Mode: 0o644, MtimeNs: 5}
	dirA  = State{Kind: Dir, Mode: 0o755, MtimeNs: 5}
)

// TestResolveStanding covers the rules below the epoch: the primary of one
// epoch, the newer version, the tie-break, and the same-state and
// same-history edge cases.
func TestResolveStanding(t *testing.T) {
	v1 := mustVector(t, "{1.p:10}")
	v2 := mustVector(t, "{1.p:20}")
	va := mustVector(t, "{1.p:10,2.a:11}")
	vb := mustVector(t, "{1.p:10,2.b:11}")
	chmod := fileA
	chmod.Mode = 0o600
	tests := []struct {
		name          string
		local, remote Side
		want          Decision
	}{
		{"same epoch, remote is its primary",
			Side{Node: "a", Epoch: 2, Vector: v2, State: fileA},
			Side{Node: "b", Epoch: 2, Primary: true, Vector: v1, State: fileB},
			Decision{Winner: Remote, Preserve: Local, Order: ANewer, Rule: RulePrimary, Loser: OutcomeKept}},
		{"newer epoch beats a newer version",
			Side{Node: "a", Epoch: 3, Vector: v1, State: fileA},
			Side{Node: "b", Epoch: 2, Primary: true, Vector: v2, State: fileB},
			Decision{Winner: Local, Preserve: Remote, Order: BNewer, Rule: RuleEpoch, Loser: OutcomeKept}},
		{"same standing, newer version wins, ancestor not kept",
			Side{Node: "a", Epoch: 2, Vector: v2, State: fileA},
			Side{Node: "b", Epoch: 2, Vector: v1, State: fileB},
			Decision{Winner: Local, Order: ANewer, Rule: RuleNewer, Loser: OutcomeAncestor}},
		{"split brain: tie-break by node name (before state), loser kept",
			Side{Node: "b", Epoch: 2, Primary: true, Vector: vb, State: fileA},
			Side{Node: "a", Epoch: 2, Primary: true, Vector: va, State: fileB},
			Decision{Winner: Remote, Preserve: Local, Order: Concurrent, Rule: RuleTieBreak, Loser: OutcomeKept}},
		{"same node, tie-break by state",
			Side{Node: "a", Epoch: 2, Vector: vb, State: fileB},
			Side{Node: "a", Epoch: 2, Vector: va, State: fileA},
			Decision{Winner: Remote, Preserve: Local, Order: Concurrent, Rule: RuleTieBreak, Loser: OutcomeKept}},
		{"identical concurrent edits: nothing kept",
			Side{Node: "p", Epoch: 1, Primary: true, Vector: mustVector(t, "{1.p:103}"), State: fileA},
			Side{Node: "s", Epoch: 2, Primary: true, Vector: mustVector(t, "{1.p:100,2.s:105}"), State: fileA},
			Decision{Winner: Remote, Order: Concurrent, Rule: RuleEpoch, Loser: OutcomeSameState}},
		{"metadata-only change is kept",
			Side{Node: "p", Epoch: 1, Primary: true, Vector: mustVector(t, "{1.p:103}"), State: chmod},
			Side{Node: "s", Epoch: 2, Primary: true, Vector: mustVector(t, "{1.p:50}"), State: fileA},
			Decision{Winner: Remote, Preserve: Local, Order: ANewer, Rule: RuleEpoch, Loser: OutcomeKept}},
		{"same history, different states: the loser is kept",
			Side{Node: "p", Epoch: 1, Primary: true, Vector: v1, State: fileB},
			Side{Node: "s", Epoch: 2, Primary: true, Vector: v1, State: fileA},
			Decision{Winner: Remote, Preserve: Local, Order: Equal, Rule: RuleEpoch, Loser: OutcomeKept}},
		{"absent states ignore their other fields",
			Side{Node: "p", Epoch: 1, Vector: v1, State: State{Size: 9}},
			Side{Node: "s", Epoch: 2, Vector: v1, State: State{Mode: 1}},
			Decision{}},
		{"remote directory loses to a newer-epoch local file",
			Side{Node: "s", Epoch: 2, Primary: true, Vector: va, State: fileA},
			Side{Node: "p", Epoch: 1, Primary: true, Vector: v2, State: dirA},
			Decision{Winner: Local, Order: Concurrent, Rule: RuleEpoch, Loser: OutcomeNoContent}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Resolve(tc.local, tc.remote)
			if got != tc.want {
				t.Fatalf("Resolve = %+v\nwant      %+v", got, tc.want)
			}
			if m := Resolve(tc.remote, tc.local); m != tc.want.Mirror() {
				t.Fatalf("mirrored: Resolve = %+v, want %+v", m, tc.want.Mirror())
			}
		})
	}
}

func TestDecisionReason(t *testing.T) {
	tests := []struct {
		d    Decision
		want string
	}{
		{Decision{}, "both sides hold the same version; nothing to do"},
		{Decision{Winner: Remote, Preserve: Local, Order: Concurrent, Rule: RuleEpoch, Loser: OutcomeKept},
			"remote wins (it follows a newer epoch): changed on both sides; the local version is kept"},
		{Decision{Winner: Local, Order: ANewer, Rule: RuleNewer, Loser: OutcomeAncestor},
			"local wins (its version is newer): local is newer; the other version is an ancestor; nothing to keep"},
		{Decision{Winner: Remote, Order: Equal, Rule: RulePrimary, Loser: OutcomeNoContent},
			"remote wins (it is the primary of the epoch): same history but different states; the other version is a deletion or a directory; nothing to keep"},
	}
	for _, tc := range tests {
		if got := tc.d.Reason(); got != tc.want {
			t.Errorf("Reason(%+v) =\n%q\nwant\n%q", tc.d, got, tc.want)
		}
		if tc.d.String() != tc.d.Reason() {
			t.Errorf("String differs from Reason")
		}
	}
}

// sideDomain is every Side over a small domain: two nodes, two epochs,
// primary or not, nine vectors, and states including absent ones that
// differ only in fields Same ignores.
func sideDomain() []Side {
	var vs []Vector
	for i := range 9 {
		vs = append(vs, Vector{}.Advance("1.p", uint64(i%3)).Advance("2.s", uint64(i/3)))
	}
	link := State{Kind: Symlink, Target: "t"}
	states := []State{{}, {Size: 3}, fileA, fileB, dirA, {Kind: Dir, Mode: 0o700}, link}
	var out []Side
	for _, node := range []string{"a", "b"} {
		for epoch := uint64(1); epoch <= 2; epoch++ {
			for _, primary := range []bool{false, true} {
				for _, v := range vs {
					for _, st := range states {
						out = append(out, Side{Node: node, Epoch: epoch, Primary: primary, Vector: v, State: st})
					}
				}
			}
		}
	}
	return out
}

// TestResolveProperties checks, on every pair of the small domain, that
// Resolve is deterministic and symmetric and keeps its promises: nothing to
// do only for identical versions, the higher standing wins, only the loser
// is ever preserved and only if it has content, and every loser with
// content that is not an ancestor of the winner is preserved.
func TestResolveProperties(t *testing.T) {
	sides := sideDomain()
	for _, a := range sides {
		for _, b := range sides {
			d := Resolve(a, b)
			if again := Resolve(a, b); again != d {
				t.Fatalf("not deterministic: %+v then %+v", d, again)
			}
			if m := Resolve(b, a); m != d.Mirror() {
				t.Fatalf("not symmetric:\na %+v\nb %+v\nResolve(a,b) %+v\nResolve(b,a) %+v", a, b, d, m)
			}
			checkInvariants(t, a, b, d)
		}
	}
}

func checkInvariants(t *testing.T, a, b Side, d Decision) {
	t.Helper()
	fail := func(msg string) {
		t.Helper()
		t.Fatalf("%s:\nlocal  %+v %s\nremote %+v %s\ndecision %+v", msg, a, a.Vector, b, b.Vector, d)
	}
	order := Compare(a.Vector, b.Vector)
	if d.Order != order {
		fail("Order is not Compare(local, remote)")
	}
	identical := order == Equal && a.State.Same(b.State)
	if (d.Winner == Neither) != identical || (d == Decision{}) != identical {
		fail("Neither wins exactly when both hold the same version")
	}
	if identical {
		return
	}
	w, l := b, a
	if d.Winner == Local {
		w, l = a, b
	}
	switch {
	case w.Epoch < l.Epoch:
		fail("the lower epoch won")
	case w.Epoch == l.Epoch && l.Primary && !w.Primary:
		fail("a follower beat the epoch's primary")
	}
	if d.Preserve != Neither && d.Preserve != d.Winner.Mirror() {
		fail("preserved the winner")
	}
	if d.Preserve != Neither && (!l.State.Kind.hasContent() || l.State.Same(w.State)) {
		fail("preserved a version with nothing to keep")
	}
	lOrder := Compare(l.Vector, w.Vector)
	mustKeep := l.State.Kind.hasContent() && !l.State.Same(w.State) && lOrder != BNewer
	if mustKeep != (d.Preserve != Neither) {
		fail("a loser with content the winner lacks was not preserved (or the reverse)")
	}
	if !strings.HasPrefix(d.Reason(), d.Winner.String()+" wins") {
		fail("Reason does not name the winner: " + d.Reason())
	}
}
