package conflict

import (
	"cmp"
	"fmt"
)

// Party names one side of a [Resolve] call.
type Party uint8

// The parties. Neither is used when no side wins (both already agree) or
// nothing is preserved.
const (
	Neither Party = iota
	Local
	Remote
)

// String returns "neither", "local" or "remote".
func (p Party) String() string {
	switch p {
	case Neither:
		return "neither"
	case Local:
		return "local"
	case Remote:
		return "remote"
	}
	return fmt.Sprintf("party(%d)", uint8(p))
}

// Mirror swaps Local and Remote.
func (p Party) Mirror() Party {
	switch p {
	case Local:
		return Remote
	case Remote:
		return Local
	}
	return p
}

// Rule says why the winner of a [Decision] won, in the order Resolve
// applies them.
type Rule uint8

// The rules.
const (
	RuleNone     Rule = iota // no winner: both sides hold the same version
	RuleEpoch                // the winner's node has joined a newer epoch
	RulePrimary              // same epoch; the winner's node is its primary
	RuleNewer                // same standing; the winner's version dominates
	RuleTieBreak             // same standing, neither dominates: lower node name, then lower state
)

// String says why the winner won, as a phrase for Reason.
func (r Rule) String() string {
	switch r {
	case RuleNone:
		return "same version"
	case RuleEpoch:
		return "it follows a newer epoch"
	case RulePrimary:
		return "it is the primary of the epoch"
	case RuleNewer:
		return "its version is newer"
	case RuleTieBreak:
		return "deterministic tie-break between equal standings"
	}
	return fmt.Sprintf("rule(%d)", uint8(r))
}

// Outcome says what becomes of the losing version.
type Outcome uint8

// The outcomes. Only OutcomeKept preserves the loser.
const (
	OutcomeNone      Outcome = iota // no loser: same version, same state
	OutcomeSameState                // the loser's state equals the winner's; adopt the winner's version, the tree needs no change
	OutcomeAncestor                 // the loser is older: the winner's history already contains it
	OutcomeNoContent                // the loser is a deletion or a directory: nothing to keep
	OutcomeKept                     // the loser holds content the winner lacks: preserve it, then apply the winner
)

// String says what becomes of the loser, as a phrase for Reason.
func (o Outcome) String() string {
	switch o {
	case OutcomeNone:
		return "nothing to do"
	case OutcomeSameState:
		return "both hold the same state; nothing to keep"
	case OutcomeAncestor:
		return "the other version is an ancestor; nothing to keep"
	case OutcomeNoContent:
		return "the other version is a deletion or a directory; nothing to keep"
	case OutcomeKept:
		return "the other version is kept"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Decision is the result of [Resolve]. It is comparable, and
// Resolve(remote, local) == Resolve(local, remote).Mirror().
type Decision struct {
	Winner   Party   // whose state belongs in the tree; Neither if both agree
	Preserve Party   // whose version to preserve before applying; Neither, or the loser
	Order    Order   // Compare(local.Vector, remote.Vector)
	Rule     Rule    // why Winner won
	Loser    Outcome // what becomes of the losing version
}

// Mirror returns the decision as seen with local and remote swapped.
func (d Decision) Mirror() Decision {
	d.Winner = d.Winner.Mirror()
	d.Preserve = d.Preserve.Mirror()
	d.Order = d.Order.Mirror()
	return d
}

// Reason is the decision in words, for logs and the conflict record.
func (d Decision) Reason() string {
	if d.Winner == Neither {
		return "both sides hold the same version; nothing to do"
	}
	var hist string
	switch d.Order {
	case Equal:
		hist = "same history but different states"
	case ANewer:
		hist = "local is newer"
	case BNewer:
		hist = "remote is newer"
	default:
		hist = "changed on both sides"
	}
	out := d.Loser.String()
	if d.Loser == OutcomeKept {
		out = fmt.Sprintf("the %s version is kept", d.Winner.Mirror())
	}
	return fmt.Sprintf("%s wins (%s): %s; %s", d.Winner, d.Rule, hist, out)
}

// String is Reason, so a Decision logs as words.
func (d Decision) String() string { return d.Reason() }

// Resolve decides between two versions of one path. The policy:
//
//  1. Same history (equal vectors) and same state: nothing to do.
//  2. Otherwise one side wins, by the first rule that separates them: the
//     newer epoch; in one epoch, its primary; with equal standing, the
//     dominating vector; failing all, a deterministic tie-break (lower node
//     name, then lower state, then lower vector).
//  3. The loser is preserved unless its state equals the winner's, its
//     vector is dominated by the winner's (an ancestor: already part of the
//     winner's history), or it has no content (Absent or Dir).
//
// So the current epoch's primary always wins, even against a newer local
// edit, and nothing that only the loser had is lost. Special cases follow:
// local modified and remote deleted gives remote (the deletion) winning
// with local kept; local deleted and remote modified gives remote winning
// with nothing kept, since a deletion has no content (and restoring the
// file loses nothing). A directory that loses is never kept itself: the
// caller resolves each child path on its own, and before replacing a
// directory by a file it must deal with the children that the losing side
// still has (each is its own Resolve, typically a local file against an
// Absent remote: kept, then removed).
//
// Resolve is pure, deterministic and symmetric:
// Resolve(remote, local) == Resolve(local, remote).Mirror().
func Resolve(local, remote Side) Decision {
	order := Compare(local.Vector, remote.Vector)
	if order == Equal && local.State.Same(remote.State) {
		return Decision{Order: Equal}
	}
	winner, rule := rank(local, remote, order)
	d := Decision{Winner: winner, Order: order, Rule: rule}
	w, l := remote, local
	loserOlder := order == BNewer
	if winner == Local {
		w, l = local, remote
		loserOlder = order == ANewer
	}
	switch {
	case l.State.Same(w.State):
		d.Loser = OutcomeSameState
	case loserOlder:
		d.Loser = OutcomeAncestor
	case !l.State.Kind.hasContent():
		d.Loser = OutcomeNoContent
	default:
		d.Loser = OutcomeKept
		d.Preserve = winner.Mirror()
	}
	return d
}

// rank picks the winner of two versions that differ. Every comparison is
// antisymmetric, which makes Resolve symmetric.
func rank(local, remote Side, order Order) (Party, Rule) {
	pick := func(c int) Party { // c < 0: local ranks first
		if c < 0 {
			return Local
		}
		return Remote
	}
	if c := cmp.Compare(remote.Epoch, local.Epoch); c != 0 {
		return pick(c), RuleEpoch
	}
	if local.Primary != remote.Primary {
		if local.Primary {
			return Local, RulePrimary
		}
		return Remote, RulePrimary
	}
	switch order {
	case ANewer:
		return Local, RuleNewer
	case BNewer:
		return Remote, RuleNewer
	}
	// c == 0 would need equal vectors and the same state, which Resolve
	// has already answered with "nothing to do".
	c := cmp.Or(
		cmp.Compare(local.Node, remote.Node),
		cmpState(local.State, remote.State),
		cmpVector(local.Vector, remote.Vector),
	)
	return pick(c), RuleTieBreak
}

// cmpVector is a total order on vectors (by actor, then counter, then
// length), used only to break ties.
func cmpVector(a, b Vector) int {
	for i := range min(len(a.c), len(b.c)) {
		if c := cmp.Or(cmp.Compare(a.c[i].actor, b.c[i].actor), cmp.Compare(a.c[i].n, b.c[i].n)); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.c), len(b.c))
}
