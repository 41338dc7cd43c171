package conflict

import (
	"errors"
	"fmt"
	"strconv"
)

// Errors of [VectorOf]. Both mean the stamp and the lineage do not belong
// together: a caller bug or a corrupt index, never a conflict to resolve.
var (
	// ErrUnknownTerm: the stamp names a term that is not in the lineage.
	ErrUnknownTerm = errors.New("stamp's term is not in the lineage")
	// ErrBadLineage: epochs not strictly ascending, starts going
	// backwards, or a stamp whose sequence is not after its term's start.
	ErrBadLineage = errors.New("inconsistent lineage")
)

// Term is one primary term of a folder's lineage (index.EpochMark for one
// folder): its epoch, its primary, and Start, the folder's journal sequence
// when the term began, that is the last sequence it inherited from the term
// before it. The term journals its own changes after Start.
type Term struct {
	Epoch uint64
	Node  string
	Start uint64
}

// Stamp says which term wrote a version and at which journal sequence
// (index.Version). The zero Stamp stands for "never written".
type Stamp struct {
	Epoch uint64
	Node  string
	Seq   uint64
}

// TermActor names the actor of one primary term in a [Vector]: "2.nfs2"
// for epoch 2 led by nfs2. The actor is a term, not a node, because
// sequences continue across terms: an old primary that goes on journaling
// after a promotion reuses sequences the new primary also assigns, and only
// the term tells the two apart (including two nodes that both claim one
// epoch).
func TermActor(epoch uint64, node string) string {
	return strconv.FormatUint(epoch, 10) + "." + node
}

// VectorOf returns the version vector of a version stamped s, held by a node
// whose lineage (oldest term first) is lineage: s's term counts up to s.Seq,
// and each earlier term counts up to where its successor took over, because
// the writer had seen exactly that much of it. Two versions of a path
// compare as their writers' knowledge: a version written by the new primary
// dominates everything the old primary had journaled before the promotion,
// and is concurrent with what the old primary journaled after it.
//
// The zero Stamp gives the empty vector. A stamp whose term is missing from
// lineage is an error (ErrUnknownTerm), as is a lineage whose epochs do not
// ascend or a stamp at or before its term's Start (ErrBadLineage).
func VectorOf(lineage []Term, s Stamp) (Vector, error) {
	if s == (Stamp{}) {
		return Vector{}, nil
	}
	k := -1
	for i, t := range lineage {
		if i > 0 && (t.Epoch <= lineage[i-1].Epoch || t.Start < lineage[i-1].Start) {
			return Vector{}, fmt.Errorf("term %s (start %d) after %s (start %d): %w",
				TermActor(t.Epoch, t.Node), t.Start, TermActor(lineage[i-1].Epoch, lineage[i-1].Node), lineage[i-1].Start, ErrBadLineage)
		}
		if t.Epoch == s.Epoch && t.Node == s.Node {
			k = i
		}
	}
	if k < 0 {
		return Vector{}, fmt.Errorf("stamp %s seq %d: %w", TermActor(s.Epoch, s.Node), s.Seq, ErrUnknownTerm)
	}
	if s.Seq <= lineage[k].Start {
		return Vector{}, fmt.Errorf("stamp %s seq %d is not after the term's start %d: %w",
			TermActor(s.Epoch, s.Node), s.Seq, lineage[k].Start, ErrBadLineage)
	}
	var v Vector
	for i := range k {
		v = v.Advance(TermActor(lineage[i].Epoch, lineage[i].Node), lineage[i+1].Start)
	}
	return v.Advance(TermActor(s.Epoch, s.Node), s.Seq), nil
}
