package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ncsync/ncsync/internal/fsys"
)

// Remote is the secondary of a comparison, as the primary reaches it.
type Remote interface {
	// Settle takes a barrier: it returns once the secondary holds every
	// change the primary journaled before the call, with the primary's
	// sequence of the folder that it then holds.
	Settle(ctx context.Context) (uint64, error)
	// Open asks the secondary for its tree below targets (from Targets):
	// its entries as read from its disk now, in walk order. closeFn ends
	// the stream.
	Open(ctx context.Context, targets []string) (src Source, closeFn func(), err error)
}

// Tree is the primary's own tree below some targets: a Walker.
type Tree interface {
	Source
	Bytes() uint64
	Close() error
}

// EventKind says what an Event reports.
type EventKind string

// Kinds of events.
const (
	// KindDifference: the path differed, was checked again after the
	// secondary caught up (a barrier), the primary's version had not
	// changed meanwhile, and it still differed.
	KindDifference EventKind = "difference"
	// KindChanging: the path differed and changed on the primary between
	// checks (or was still being written) every time it was looked at:
	// neither equal nor confirmed as a difference.
	KindChanging EventKind = "changing"
	// KindResolved: the path differed while it was changing and was equal
	// when checked again: changed during the verify, not a difference.
	KindResolved EventKind = "resolved"
	// KindUnchecked: a difference of the first pass past the recheck
	// bound (RunOptions.MaxHeld): reported as found, not confirmed.
	KindUnchecked EventKind = "unchecked"
	// KindProgress: counts so far, about once per RunOptions.Progress.
	KindProgress EventKind = "progress"
)

// Event is a finding or a progress report of Run.
type Event struct {
	Kind   EventKind
	Folder string
	Pass   int
	Seq    uint64 // the sequence the pass was made at
	// Findings: the path and the last comparison of it. A resolved path
	// carries the primary's entry of the pass that found it differing.
	Difference
	// Progress: entries compared in this pass, bytes the primary read.
	Compared  uint64
	BytesRead uint64
}

// Result sums up one folder's comparison.
type Result struct {
	Folder string
	// Seq is the primary's sequence of the folder that the secondary held
	// when the full walk began; LastSeq the one of the last recheck.
	Seq, LastSeq uint64
	Passes       int
	Compared     uint64 // entries of the full walk
	BytesRead    uint64 // bytes the primary read, over all passes
	Differences  uint64
	Changing     uint64
	Resolved     uint64
	Unchecked    uint64
}

// Different reports whether the comparison found anything but equality
// (resolved paths aside).
func (r Result) Different() bool { return r.Differences+r.Changing+r.Unchecked > 0 }

// RunOptions tune Run.
type RunOptions struct {
	Options
	// Passes is the most passes: the full walk, then rechecks of what
	// differed (default 3, at least 2).
	Passes int
	// MaxHeld and MaxHeldBytes bound what is kept of the differences of a
	// pass for the next (default 100,000 paths and 64 MiB); past them the
	// rest is reported unchecked.
	MaxHeld, MaxHeldBytes int
	// MaxTargetBytes bounds the bytes of the held paths, which a recheck
	// sends to the secondary in one message (default 4 MiB).
	MaxTargetBytes int
	// Progress is the interval of progress events (default 1s).
	Progress time.Duration
}

func (o RunOptions) withDefaults() RunOptions {
	if o.Passes < 2 {
		o.Passes = 3
	}
	if o.MaxHeld <= 0 {
		o.MaxHeld = 100_000
	}
	if o.MaxHeldBytes <= 0 {
		o.MaxHeldBytes = 64 << 20
	}
	if o.MaxTargetBytes <= 0 {
		o.MaxTargetBytes = 4 << 20
	}
	if o.Progress <= 0 {
		o.Progress = time.Second
	}
	return o
}

// Run compares folder on the primary (open walks the primary's tree below
// some targets) with the secondary behind remote, reporting every finding
// to emit.
//
// Both trees are live, so a difference seen once may only be a change in
// flight. Run therefore works in passes: a barrier, then the full walk of
// both trees; for what differed, a barrier again (the secondary now holds
// every change the primary journaled), then both trees below those paths
// again. A path that still differs while the primary's version of it did
// not change in between is a difference; one that is equal now was
// changed during the verify (resolved); one whose primary version changed
// again is checked again, up to Passes, and then reported as changing.
//
// Memory: the merge keeps nothing per path; between passes Run keeps the
// differing paths with their primary entries, at most MaxHeld of them.
func Run(ctx context.Context, folder string, o RunOptions, remote Remote, open func(targets []string) (Tree, error), emit func(Event) error) (Result, error) {
	o = o.withDefaults()
	r := &runner{folder: folder, o: o, remote: remote, open: open, emit: emit, res: Result{Folder: folder}}
	return r.res, r.run(ctx)
}

type runner struct {
	folder string
	o      RunOptions
	remote Remote
	open   func([]string) (Tree, error)
	emit   func(Event) error
	res    Result
}

func (r *runner) run(ctx context.Context) error {
	seq, err := r.remote.Settle(ctx)
	if err != nil {
		return err
	}
	r.res.Seq, r.res.LastSeq = seq, seq
	held := newHeld(r.o)
	st, err := r.pass(ctx, 1, seq, []string{""}, func(d Difference) error {
		if held.add(d) {
			return nil
		}
		r.res.Unchecked++
		return r.finding(KindUnchecked, 1, seq, d)
	})
	if err != nil {
		return err
	}
	r.res.Compared = st.Compared
	for n := 2; n <= r.o.Passes && held.len() > 0; n++ {
		seq, err := r.remote.Settle(ctx)
		if err != nil {
			return err
		}
		r.res.LastSeq = seq
		targets, err := Targets(held.paths)
		if err != nil {
			return err
		}
		last := n == r.o.Passes
		next := newHeld(r.o)
		if _, err := r.pass(ctx, n, seq, targets, func(d Difference) error {
			prev, seen := held.take(d.Path)
			switch {
			case seen && prev == sigOf(d.Primary) && !unsettled(d):
				r.res.Differences++
				return r.finding(KindDifference, n, seq, d)
			case last:
				r.res.Changing++
				return r.finding(KindChanging, n, seq, d)
			case next.add(d):
				return nil
			}
			r.res.Unchecked++
			return r.finding(KindUnchecked, n, seq, d)
		}); err != nil {
			return err
		}
		// What differed before and not now was changed during the verify.
		for _, p := range held.remaining() {
			r.res.Resolved++
			d := Difference{Folder: r.folder, Path: p, Primary: held.m[p].Entry}
			d.Primary.Path = p
			if err := r.finding(KindResolved, n, seq, d); err != nil {
				return err
			}
		}
		held = next
	}
	return nil
}

// pass walks both trees below targets once.
func (r *runner) pass(ctx context.Context, n int, seq uint64, targets []string, report func(Difference) error) (Stats, error) {
	r.res.Passes = n
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, closeSrc, err := r.remote.Open(ctx, targets)
	if err != nil {
		return Stats{}, err
	}
	defer closeSrc()
	tree, err := r.open(targets)
	if err != nil {
		return Stats{}, err
	}
	defer tree.Close()
	base := r.res.BytesRead
	m := NewMerger(r.folder, src, r.o.Options, report)
	tick := time.Now()
	for {
		e, err := tree.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m.Stats(), fmt.Errorf("walk the primary's tree: %w", err)
		}
		if err := m.Primary(ctx, e); err != nil {
			return m.Stats(), err
		}
		if time.Since(tick) >= r.o.Progress {
			tick = time.Now()
			r.res.BytesRead = base + tree.Bytes()
			if err := r.emit(Event{Kind: KindProgress, Folder: r.folder, Pass: n, Seq: seq,
				Compared: m.Stats().Compared, BytesRead: r.res.BytesRead}); err != nil {
				return m.Stats(), err
			}
		}
	}
	if err := m.Finish(ctx); err != nil {
		return m.Stats(), err
	}
	r.res.BytesRead = base + tree.Bytes()
	return m.Stats(), nil
}

func (r *runner) finding(k EventKind, pass int, seq uint64, d Difference) error {
	return r.emit(Event{Kind: k, Folder: r.folder, Pass: pass, Seq: seq, Difference: d})
}

// unsettled reports whether a side of d was being written while read.
func unsettled(d Difference) bool {
	return strings.Contains(d.Primary.Err, fsys.ErrUnsettled.Error()) || strings.Contains(d.Local.Err, fsys.ErrUnsettled.Error())
}

// sig is what a pass keeps of a primary entry to tell whether it changed
// by the next: everything but the path (the map's key).
type sig struct{ Entry }

func sigOf(e Entry) sig {
	e.Path = ""
	return sig{e}
}

// held keeps the differences of one pass for the next, within bounds.
type held struct {
	maxN, maxBytes, maxPathBytes int
	bytes, pathBytes             int
	m                            map[string]sig
	paths                        []string // in walk order
}

func newHeld(o RunOptions) *held {
	return &held{maxN: o.MaxHeld, maxBytes: o.MaxHeldBytes, maxPathBytes: o.MaxTargetBytes, m: make(map[string]sig)}
}

// heldOverhead approximates the memory of one held path besides its
// strings: the map slot, the entry and the slice element.
const heldOverhead = 200

func (h *held) add(d Difference) bool {
	cost := 2*len(d.Path) + len(d.Primary.Target) + len(d.Primary.Err) + heldOverhead
	if len(h.m) >= h.maxN || h.bytes+cost > h.maxBytes || h.pathBytes+len(d.Path)+8 > h.maxPathBytes {
		return false
	}
	h.bytes += cost
	h.pathBytes += len(d.Path) + 8
	h.m[d.Path] = sigOf(d.Primary)
	h.paths = append(h.paths, d.Path)
	return true
}

func (h *held) len() int { return len(h.m) }

// take returns and forgets the entry kept for p.
func (h *held) take(p string) (sig, bool) {
	s, ok := h.m[p]
	if !ok || s.Err == takenMark {
		return sig{}, false
	}
	h.m[p] = sig{Entry{Err: takenMark}} // keep the slot: remaining skips it
	return s, true
}

// takenMark marks a taken slot (an Err no walker produces).
const takenMark = "\x00taken"

// remaining returns the kept paths not taken, in walk order.
func (h *held) remaining() []string {
	var out []string
	for _, p := range h.paths {
		if s := h.m[p]; s.Err != takenMark {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, ComparePaths)
	return out
}

// More kinds, of the reports of a whole run (Report).
const (
	// KindFolder: a folder of a peer is done; Report.Result sums it up.
	KindFolder EventKind = "folder"
	// KindError: a folder of a peer could not be verified; Report.Error
	// says why.
	KindError EventKind = "error"
)

// Report is one message of a verify run over peers and folders, as the
// operator sees it: an Event of a peer's folder, a folder's Result (Kind
// KindFolder), or why a folder could not be verified (KindError).
type Report struct {
	Peer string
	Event
	Result *Result
	Error  string
}

// Request is what an operator asks of a verify run (ncsync verify).
type Request struct {
	Peers       []string // empty: every configured secondary
	IgnoreOwner bool     // do not compare uid and gid
	// Progress is the interval of progress reports (0: one second).
	Progress time.Duration
}
