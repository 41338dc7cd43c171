package conflict

import (
	"cmp"
	"iter"
	"slices"
)

// Vector is a version vector: for each actor, how many of its events (for
// ncsync: up to which journal sequence of a primary term) a version has
// seen. Actors absent from a vector count as zero.
//
// A Vector is immutable: every method returns a new value and never shares
// memory with its inputs. The zero value is the empty vector, the version of
// a path nobody has written, which every other vector dominates.
type Vector struct {
	c []counter // sorted by actor, unique actors, no zero counts
}

type counter struct {
	actor string
	n     uint64
}

// Order is the result of [Compare].
type Order uint8

// The four outcomes of comparing two vectors a and b. Compare is a partial
// order: Equal is reflexive, ANewer and BNewer mirror each other when the
// arguments are swapped, and Concurrent is symmetric.
const (
	Equal      Order = iota // same counters everywhere
	ANewer                  // a ≥ b everywhere and > somewhere: a has seen all of b
	BNewer                  // b ≥ a everywhere and > somewhere
	Concurrent              // each has seen something the other has not
)

// String returns "equal", "a-newer", "b-newer" or "concurrent".
func (o Order) String() string {
	switch o {
	case Equal:
		return "equal"
	case ANewer:
		return "a-newer"
	case BNewer:
		return "b-newer"
	case Concurrent:
		return "concurrent"
	}
	return "order(?)"
}

// Mirror returns the order of Compare(b, a) given that of Compare(a, b).
func (o Order) Mirror() Order {
	switch o {
	case ANewer:
		return BNewer
	case BNewer:
		return ANewer
	}
	return o
}

// Get returns actor's counter, 0 if v has none.
func (v Vector) Get(actor string) uint64 {
	i, ok := v.find(actor)
	if !ok {
		return 0
	}
	return v.c[i].n
}

// Len returns the number of actors with a non-zero counter.
func (v Vector) Len() int { return len(v.c) }

// All yields the actors with their counters in ascending actor order.
func (v Vector) All() iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		for _, c := range v.c {
			if !yield(c.actor, c.n) {
				return
			}
		}
	}
}

// Advance returns v with actor's counter raised to n; a lower or equal n
// leaves v as it is. ncsync advances a term's actor to a journal sequence,
// which grows by more than one between two versions of a path. See
// [TermActor] and the note on String about which actors are valid.
func (v Vector) Advance(actor string, n uint64) Vector {
	i, ok := v.find(actor)
	if ok && v.c[i].n >= n || n == 0 {
		return v.clone()
	}
	out := make([]counter, 0, len(v.c)+1)
	out = append(out, v.c[:i]...)
	out = append(out, counter{actor, n})
	if ok {
		i++
	}
	out = append(out, v.c[i:]...)
	return Vector{c: out}
}

// Increment returns v with actor's counter one higher: the version an actor
// makes by changing v. The result is ANewer than v. Incrementing past the
// largest uint64 leaves the counter there (it cannot happen with journal
// sequences).
func (v Vector) Increment(actor string) Vector {
	n := v.Get(actor)
	if n == ^uint64(0) {
		return v.clone()
	}
	return v.Advance(actor, n+1)
}

// Merge returns the least upper bound of a and b: for each actor the larger
// counter. It has seen everything either has seen, so Compare(Merge(a, b),
// a) and Compare(Merge(a, b), b) are Equal or ANewer. Merge is
// commutative, associative and idempotent.
func Merge(a, b Vector) Vector {
	out := make([]counter, 0, max(len(a.c), len(b.c)))
	i, j := 0, 0
	for i < len(a.c) || j < len(b.c) {
		switch c := cmpAt(a, b, i, j); {
		case c < 0:
			out = append(out, a.c[i])
			i++
		case c > 0:
			out = append(out, b.c[j])
			j++
		default:
			out = append(out, counter{a.c[i].actor, max(a.c[i].n, b.c[j].n)})
			i++
			j++
		}
	}
	return Vector{c: out}
}

// Compare reports how a and b are ordered: a is newer when it has seen
// every event b has (each counter ≥ b's) and more; equal when all counters
// match; concurrent when each has seen an event the other has not.
func Compare(a, b Vector) Order {
	aMore, bMore := false, false
	i, j := 0, 0
	for i < len(a.c) || j < len(b.c) {
		switch c := cmpAt(a, b, i, j); {
		case c < 0: // only a has this actor (counters are never zero)
			aMore = true
			i++
		case c > 0:
			bMore = true
			j++
		default:
			aMore = aMore || a.c[i].n > b.c[j].n
			bMore = bMore || b.c[j].n > a.c[i].n
			i++
			j++
		}
	}
	switch {
	case aMore && bMore:
		return Concurrent
	case aMore:
		return ANewer
	case bMore:
		return BNewer
	}
	return Equal
}

// cmpAt orders a.c[i] against b.c[j] by actor, treating an exhausted
// vector as larger than anything.
func cmpAt(a, b Vector, i, j int) int {
	switch {
	case i == len(a.c):
		return 1
	case j == len(b.c):
		return -1
	}
	return cmp.Compare(a.c[i].actor, b.c[j].actor)
}

func (v Vector) find(actor string) (int, bool) {
	return slices.BinarySearchFunc(v.c, actor, func(c counter, a string) int {
		return cmp.Compare(c.actor, a)
	})
}

func (v Vector) clone() Vector { return Vector{c: slices.Clone(v.c)} }
