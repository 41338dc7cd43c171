package secondary

import (
	"errors"
	"fmt"

	"github.com/ncsync/ncsync/apply"
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

// skipIgnored returns the entries to apply (work) and a result slot for
// each of entries: the ignored ones hold errIgnoredHere, the others are
// filled in by mergeResults.
func (f *folder) skipIgnored(entries []index.Entry) (work []index.Entry, results []apply.Result) {
	results = make([]apply.Result, len(entries))
	n := 0
	for i := range entries {
		if e := &entries[i]; e.Path != index.RootPath && f.ignore.MatchPath(e.Path, e.Kind == index.KindDir) {
			results[i].Err = fmt.Errorf("%q: %w", e.Path, errIgnoredHere)
			n++
		}
	}
	if n == 0 {
		return entries, results
	}
	work = make([]index.Entry, 0, len(entries)-n)
	for i, e := range entries {
		if results[i].Err == nil {
			work = append(work, e)
		}
	}
	return work, results
}

// mergeResults puts the results of work, in order, into the slots
// skipIgnored left free.
func mergeResults(results, work []apply.Result) []apply.Result {
	j := 0
	for i := range results {
		if !errors.Is(results[i].Err, errIgnoredHere) && j < len(work) {
			results[i] = work[j]
			j++
		}
	}
	return results
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
