// Package verify compares a folder's tree on two nodes fully: metadata and
// content read from disk now, not what the index says (ncsync verify).
//
// A Walker lists one tree in walk order (depth first, the names of each
// directory in byte order; see ComparePaths), reading each regular file
// through the chunker to get its file id. A Merger consumes two such
// ordered streams, the primary's own walk and the secondary's (uploaded
// over the wire), and reports every path where they differ. Both stream:
// memory is bounded by the depth of the tree and the largest directory,
// never by the number of files.
//
// Run drives one folder's comparison in passes separated by barriers, so
// that changes in flight on a live tree are told from differences (see
// Run); between passes it keeps only the differing paths, within bounds.
package verify
