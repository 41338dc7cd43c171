// Package conflict decides what happens when two versions of one path
// meet: which one belongs in the tree and which one must be preserved
// before it is overwritten or deleted. It is pure logic: no I/O, no clock,
// no ncsync or proto imports, so every decision can be tested exhaustively.
//
// Three pieces:
//
//   - [Vector] is a version vector (actor → counter) with a partial order,
//     [Compare]. ncsync's actors are primary terms ([TermActor]); [VectorOf]
//     turns an entry's stamp (epoch, node, sequence) and the holder's lineage
//     into the entry's vector.
//   - [Resolve] compares two [Side]s of one path and returns a [Decision]:
//     the side that stands higher (newer epoch, then the primary of the
//     epoch) wins; the loser is preserved whenever it holds content that
//     the winner's history does not already contain.
//   - [BeforeApply] is a secondary's check before it overwrites or deletes a
//     path: if the path is no longer what ncsync last wrote there, the local
//     version is preserved first.
//
// # Converting from the index (done by callers)
//
// For an index.Entry e held by a node with meta m, in folder f:
//
//	lineage: one Term{Epoch: mk.Epoch, Node: mk.Node, Start: mk.Start[f]}
//	         per index.EpochMark mk in m.Lineage, oldest first
//	stamp:   Stamp{Epoch: e.Version.Epoch, Node: e.Version.Node, Seq: e.Version.Seq}
//	         (the zero Stamp for a path the node has never seen)
//	vector:  VectorOf(lineage, stamp)
//	state:   State{Kind: Absent} if e is missing or e.Deleted; otherwise
//	         Kind from e.Kind (file, dir, symlink) and Content = e.FileID,
//	         Target, Size, Mode, UID, GID, MtimeNs copied from e
//	side:    Side{Node: m.Node, Epoch: m.Epoch, Primary: <m.Node is the
//	         primary of m.Epoch>, Vector: vector, State: state}
//
// Each side is converted with its own lineage, as it was before the two
// nodes met: the old primary's lineage ends in its own term, and that is
// what makes its unreplicated entries concurrent with the new primary's.
package conflict
