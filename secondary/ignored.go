package secondary

import (
	"errors"
	"fmt"

	"github.com/ncsync/ncsync/ignore"
	"github.com/ncsync/ncsync/index"
)

// A secondary applies its own ignore list too: the patterns of its folder
// (the Nextcloud defaults unless turned off, and its own) name node-local
// paths such as nextcloud.log or uploads/, and an entry the primary sends
// for such a path is refused, logged, reported to the primary in the ack
// and counted in status; the local path, or its absence, is kept. It is
// not recorded as refused for promote: it is meant to differ.

// errIgnoredHere is the result of an entry refused because it matches this
// node's ignore patterns.
var errIgnoredHere = errors.New("the path matches this node's ignore patterns (a node-local path); kept as it is")

// ignoredHere returns errIgnoredHere, naming e's path, if e matches this
// node's ignore patterns (the root's own entry never does), else nil.
func (f *folder) ignoredHere(e *index.Entry) error {
	if e.Path != index.RootPath && f.ignore.MatchPath(e.Path, e.Kind == index.KindDir) {
		return fmt.Errorf("%q: %w", e.Path, errIgnoredHere)
	}
	return nil
}

// notIgnored returns the entries that do not match this node's ignore
// patterns: entries itself if none does.
func (f *folder) notIgnored(entries []index.Entry) []index.Entry {
	for i := range entries {
		if f.ignoredHere(&entries[i]) == nil {
			continue
		}
		work := append([]index.Entry(nil), entries[:i]...)
		for j := i + 1; j < len(entries); j++ {
			if f.ignoredHere(&entries[j]) == nil {
				work = append(work, entries[j])
			}
		}
		return work
	}
	return entries
}

// SetIgnore gives folder id this node's ignore patterns of m while it runs
// (a config reload): the entries that arrive from now on are checked
// against them. An entry refused earlier because it matched the old ones
// comes again when the primary changes its path.
func (s *Secondary) SetIgnore(id string, m *ignore.Matcher) error {
	f, ok := s.folders[id]
	if !ok {
		return fmt.Errorf("no folder %q", id)
	}
	f.ignore.Replace(m)
	s.log.Info("ignore patterns changed", "folder", id, "ignore", m.Patterns())
	return nil
}
