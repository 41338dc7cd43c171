package secondary

import (
	"context"
	"fmt"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/scanner"
)

// scanOwnChanges journals what changed in this node's folders since its
// index last saw them, stamped with this node's own (old) term: an old
// primary started as a secondary may have been written to while ncsync
// was not running, and those writes must count as diverged (preserved,
// never silently replaced).
func (s *Secondary) scanOwnChanges(ctx context.Context, meta index.Meta) error {
	version := index.Version{Epoch: meta.Epoch, Node: s.opts.Node}
	for _, id := range s.order {
		fc := s.folders[id].cfg
		m, err := ignore.New(fc.IgnorePatterns())
		if err != nil {
			return fmt.Errorf("folder %q: %w", id, err)
		}
		sc, err := scanner.New(scanner.IndexStore(s.db, id), scanner.Options{
			Root: fc.Path, Folder: id, Ignore: m, Chunker: chunker.DefaultConfig(),
			Version: func() index.Version { return version },
			Log:     s.log.With("folder", id),
		})
		if err != nil {
			return fmt.Errorf("folder %q: %w", id, err)
		}
		res, err := sc.Scan(ctx)
		if err != nil {
			return fmt.Errorf("scan folder %q for changes made while this node was down: %w", id, err)
		}
		if len(res.Failed) > 0 {
			// Unscanned, a change there would be replaced without being
			// preserved: the rejoin waits (the session ends and is tried
			// again) until every path can be read.
			return fmt.Errorf("scan folder %q for changes made while this node was down: %d paths could not be scanned (%q first): %w",
				id, len(res.Failed), res.Failed[0], res.FailErr)
		}
		if res.Changed+res.Deleted > 0 {
			s.log.Warn("found changes made while this node was down", "folder", id, "changed", res.Changed, "deleted", res.Deleted)
		}
	}
	return nil
}
