package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Source yields a tree's entries in walk order (see ComparePaths), then
// io.EOF. A Walker is one.
type Source interface {
	Next(ctx context.Context) (Entry, error)
}

// ErrOrder is wrapped by a Merger's error when a stream is not in strict
// walk order (a broken peer or walker): the merge would report nonsense.
var ErrOrder = errors.New("entries out of walk order")

// Stats count what a Merger saw.
type Stats struct {
	Compared    uint64 // paths seen on either side (each counted once)
	Differences uint64 // differences reported
	Skipped     uint64 // paths below an unreadable path, not compared
}

// Merger compares the primary's stream of entries, fed one at a time with
// Primary, with a local Source it pulls from as needed, reporting every
// path that differs. It keeps the one local entry not yet matched and the
// previous path of each side, nothing per file.
//
// A Merger is not safe for concurrent use.
type Merger struct {
	folder string
	local  Source
	opts   Options
	report func(Difference) error

	head  Entry // the local entry not yet matched, if have
	have  bool
	eof   bool
	prevP string // order checks; "" is before every entry path
	prevL string
	under string // the subtree of an unreadable path, skipped on both sides
	skip  bool
	stats Stats
}

// NewMerger returns a Merger of folder's primary stream with local. report
// is called for each difference, in walk order; its error ends the merge.
func NewMerger(folder string, local Source, o Options, report func(Difference) error) *Merger {
	return &Merger{folder: folder, local: local, opts: o, report: report}
}

// Stats returns the counts so far.
func (m *Merger) Stats() Stats { return m.stats }

// Primary compares the primary's next entry e with the local tree: local
// entries before it are extra, the local entry of the same path is
// compared, and if there is none e is missing.
func (m *Merger) Primary(ctx context.Context, e Entry) error {
	if ComparePaths(m.prevP, e.Path) >= 0 {
		return fmt.Errorf("primary's stream: %w: %q after %q", ErrOrder, e.Path, m.prevP)
	}
	m.prevP = e.Path
	if m.skipped(e.Path) {
		return nil
	}
	for {
		if err := m.fill(ctx); err != nil {
			return err
		}
		if !m.have {
			break
		}
		c := ComparePaths(m.head.Path, e.Path)
		if c > 0 {
			break
		}
		m.have = false
		if c == 0 {
			m.stats.Compared++
			return m.differ(e, m.head, Compare(&e, &m.head, m.opts))
		}
		if err := m.extra(m.head); err != nil {
			return err
		}
		if m.skipped(e.Path) { // below the unreadable extra path
			return nil
		}
	}
	m.stats.Compared++
	a := Missing
	if e.Err != "" {
		a = Unreadable
	}
	return m.differ(e, Entry{}, a)
}

// Finish reports every local entry after the primary's last as extra. Call
// it once the primary's stream has ended.
func (m *Merger) Finish(ctx context.Context) error {
	for {
		if err := m.fill(ctx); err != nil {
			return err
		}
		if !m.have {
			return nil
		}
		m.have = false
		if err := m.extra(m.head); err != nil {
			return err
		}
	}
}

// fill makes head the next local entry that is not skipped, unless it
// holds one already or the local stream has ended.
func (m *Merger) fill(ctx context.Context) error {
	for !m.have && !m.eof {
		e, err := m.local.Next(ctx)
		if errors.Is(err, io.EOF) {
			m.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if ComparePaths(m.prevL, e.Path) >= 0 {
			return fmt.Errorf("local walk: %w: %q after %q", ErrOrder, e.Path, m.prevL)
		}
		m.prevL = e.Path
		if !m.skipped(e.Path) {
			m.head, m.have = e, true
		}
	}
	return nil
}

func (m *Merger) extra(l Entry) error {
	m.stats.Compared++
	a := Extra
	if l.Err != "" {
		a = Unreadable
	}
	return m.differ(Entry{}, l, a)
}

// skipped reports (and counts) whether p lies below an unreadable path.
func (m *Merger) skipped(p string) bool {
	if m.skip && Within(p, m.under) {
		m.stats.Skipped++
		return true
	}
	return false
}

// differ reports a difference of aspects a, if any. An unreadable path's
// subtree is skipped on both sides: what is below it is unknown on one.
func (m *Merger) differ(p, l Entry, a Aspect) error {
	if a == 0 {
		return nil
	}
	path := p.Path
	if path == "" {
		path = l.Path
	}
	if a&Unreadable != 0 {
		m.under, m.skip = path, true
		// The local entry already taken may lie below it.
		if m.have && Within(m.head.Path, path) {
			m.have = false
			m.stats.Skipped++
		}
	}
	m.stats.Differences++
	return m.report(Difference{Folder: m.folder, Path: path, Aspects: a, Primary: p, Local: l})
}

// Rechecks collects the paths of differences to look at again, in walk
// order, within bounds: a path below one already kept is covered by it (a
// manifest request covers subtrees) and not added. Past the bounds it only
// records that it overflowed.
type Rechecks struct {
	MaxPaths, MaxBytes int

	paths    []string
	bytes    int
	overflow bool
}

// Add records p; paths must come in walk order.
func (r *Rechecks) Add(p string) {
	if n := len(r.paths); n > 0 && Within(p, r.paths[n-1]) {
		return
	}
	if len(r.paths) >= r.MaxPaths || r.bytes+len(p) > r.MaxBytes {
		r.overflow = true
		return
	}
	r.paths = append(r.paths, p)
	r.bytes += len(p)
}

// Paths returns the recorded paths.
func (r *Rechecks) Paths() []string { return r.paths }

// Overflow reports whether some paths were not recorded.
func (r *Rechecks) Overflow() bool { return r.overflow }
