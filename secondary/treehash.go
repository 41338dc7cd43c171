package secondary

import (
	"github.com/ncsync/ncsync/transport"
)

// treeHashReport answers a primary's tree hash query (ncsync barrier
// --verify): the hash of this node's index of the folder at its applied
// position. The session's apply loop calls it in stream order, so
// everything the primary sent before the query is applied.
func (s *Secondary) treeHashReport(q transport.TreeHashQuery) transport.TreeHashReport {
	r := transport.TreeHashReport{Folder: q.Folder, Query: q.ID}
	pos, err := s.db.Position(q.Folder)
	if err == nil {
		r.Hash, r.Entries, _, err = s.db.TreeHash(q.Folder)
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.Seq = pos
	return r
}
