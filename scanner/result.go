package scanner

import (
	"sync/atomic"
	"time"
)

// Result says what one Scan did.
type Result struct {
	Walked      int   // paths examined on disk (ignored and skipped ones excluded)
	Hashed      int   // files read through the chunker to a settled result
	HashedBytes int64 // bytes read through the chunker, repeated reads included
	Changed     int   // entries journaled for new or changed paths
	Deleted     int   // tombstones journaled
	Skipped     int   // special files, invalid names or symlink targets, over-long paths
	Retried     int   // reads repeated because the file changed while it was read
	Errors      int   // paths that failed (see Failed)

	// Racy lists the files stored "racily clean" (see Scanner.smudge):
	// changed so shortly before they were read that a same-tick write
	// could hide, so their stored fingerprint makes the next scan read
	// them again. Scanning them once more after [Scanner.RacyWindow]
	// settles them, so that they are not read again after a restart.
	// Past maxRacy paths it is [""]: the whole folder.
	Racy []string

	// Failed lists the paths whose scan failed: a file or directory that
	// could not be read (EACCES, EIO), a file that kept changing while
	// it was read. Their changes are not journaled, so the caller must
	// scan them again (a directory stands for its subtree) until they
	// succeed. Past maxFailed paths it is [""]: the whole folder.
	Failed []string
	// FailErr is the error of the last of Failed; nil when Failed is empty.
	FailErr error
	// Deferred lists the files this Scan did not read or journal because
	// they must not be sent now: locked by a writer, or empty and held
	// (Options.HoldEmpty). The index keeps their previous version; the
	// caller scans them again (see Deferred).
	Deferred []Deferred
}

// Deferred is a file left out of a Scan until a later one.
type Deferred struct {
	Path   string
	Reason DeferReason
	// Until is when an empty file's hold ends (ReasonHeldEmpty): a scan
	// after it journals the file if it is still empty.
	Until time.Time
}

// DeferReason says why a file was deferred.
type DeferReason uint8

const (
	// ReasonBeingWritten: another process held an exclusive flock or a
	// POSIX/OFD write lock on the file (fsys.ErrBeingWritten). Scan it
	// again soon: nothing announces when the lock is released.
	ReasonBeingWritten DeferReason = iota + 1
	// ReasonHeldEmpty: the file is empty and matches Options.HoldEmpty,
	// and has not been empty for Options.HoldEmptyFor yet.
	ReasonHeldEmpty
)

func (r DeferReason) String() string {
	switch r {
	case ReasonBeingWritten:
		return "being written"
	case ReasonHeldEmpty:
		return "empty, held"
	}
	return "unknown"
}

// Counters are cumulative since New. They are read atomically and may be
// read while a Scan runs (for status).
type Counters struct {
	Scans       uint64 // Scan calls finished, failed ones included
	Walked      uint64
	FilesHashed uint64
	BytesHashed uint64
	Changed     uint64
	Deleted     uint64
	Skipped     uint64
	Retried     uint64
	Errors      uint64
}

type counters struct {
	scans, walked, hashed, bytes, changed, deleted, skipped, retried, errors atomic.Uint64
}

// Counters returns the cumulative counters.
func (s *Scanner) Counters() Counters {
	c := &s.ctr
	return Counters{
		Scans:       c.scans.Load(),
		Walked:      c.walked.Load(),
		FilesHashed: c.hashed.Load(),
		BytesHashed: c.bytes.Load(),
		Changed:     c.changed.Load(),
		Deleted:     c.deleted.Load(),
		Skipped:     c.skipped.Load(),
		Retried:     c.retried.Load(),
		Errors:      c.errors.Load(),
	}
}

// resultOf is the difference of two snapshots taken around a Scan; Scans
// are serialized, so nothing else moved the counters in between.
func resultOf(a, b Counters) Result {
	return Result{
		Walked:      int(b.Walked - a.Walked),
		Hashed:      int(b.FilesHashed - a.FilesHashed),
		HashedBytes: int64(b.BytesHashed - a.BytesHashed),
		Changed:     int(b.Changed - a.Changed),
		Deleted:     int(b.Deleted - a.Deleted),
		Skipped:     int(b.Skipped - a.Skipped),
		Retried:     int(b.Retried - a.Retried),
		Errors:      int(b.Errors - a.Errors),
	}
}
