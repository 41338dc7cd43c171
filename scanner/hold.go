package scanner

import (
	"time"

	"github.com/ncsync/ncsync/index"
)

// holdEmpty decides whether a file just read is held back: it is empty,
// matches Options.HoldEmpty, its previous version (if any) was not empty,
// and it has not been empty for longer than Options.HoldEmptyFor.
//
// This is for Nextcloud's config.php (and config/*.config.php): its writer
// truncates the file and then writes it, and an app server that includes
// it while it is empty shows the installation wizard. The locks protect a
// writer that takes them; the hold also covers one that does not, at the
// cost of delaying a real truncation by HoldEmptyFor.
//
// How long the file has been empty is read from its ctime, which the
// truncation set, so the hold needs no state and survives a restart. A
// ctime in the future (the clock was set back) counts from now.
func (s *Scanner) holdEmpty(it *item, e index.Entry) (Deferred, bool) {
	if s.opts.HoldEmpty == nil || e.Size != 0 || !s.opts.HoldEmpty.Match(e.Path, false) {
		return Deferred{}, false
	}
	if it.hasOld && it.old.Kind == index.KindFile && it.old.Size == 0 {
		return Deferred{}, false // replicated empty already: nothing is held back
	}
	now := s.now()
	since := time.Unix(0, e.Stat.CtimeNs)
	if since.After(now) {
		since = now
	}
	until := since.Add(s.opts.HoldEmptyFor)
	if now.After(until) {
		return Deferred{}, false
	}
	return Deferred{Path: e.Path, Reason: ReasonHeldEmpty, Until: until}, true
}
