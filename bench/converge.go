package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Polling bounds of waitEqual: the touched paths are checked at least
// every minPoll (more slowly when checking them takes long), a full walk
// of the target at most every minFullPoll.
const (
	minPoll     = 5 * time.Millisecond
	maxPoll     = 100 * time.Millisecond
	minFullPoll = 250 * time.Millisecond
)

// waitEqual polls until the target dst equals the source src, which no
// longer changes, and returns when it was first seen equal (the start of
// the walk of the target that found it equal). Cheap checks
// come first: the paths in touched (lstat of both sides) until they agree,
// then a walk of the target's metadata against the source's (walked once);
// a content compare of both trees confirms, outside the measured time.
// alive is checked between polls; a tool that died ends the wait.
// progress, when set, gets a line every progressEvery while it waits.
func waitEqual(ctx context.Context, src, dst string, touched []string, opt compareOptions, alive func() error,
	progress func(format string, args ...any)) (time.Time, error) {
	var (
		begin     = time.Now()
		lastNote  = begin
		srcNodes  []node
		diffs     []string
		nextFull  time.Time
		fullEvery = minFullPoll
		poll      = minPoll
		seen      int // touched[:seen] were seen equal: not looked at again until a full walk differs
	)
	for {
		t0 := time.Now()
		n, ok := pathsEqual(src, dst, touched[seen:], opt)
		seen += n
		if d := 2 * time.Since(t0); ok == nil {
			poll = minPoll
		} else {
			poll = min(max(d, minPoll), maxPoll)
			diffs = []string{ok.Error()}
		}
		if ok == nil && !time.Now().Before(nextFull) {
			var err error
			if srcNodes == nil {
				if srcNodes, err = walkTreeWith(src, false, opt); err != nil {
					return time.Time{}, err
				}
			}
			f0 := time.Now()
			dstNodes, err := walkTreeWith(dst, false, opt)
			if err == nil {
				diffs = diffNodes(srcNodes, dstNodes, 5)
			} else {
				diffs = []string{err.Error()}
			}
			if err == nil && len(diffs) == 0 {
				if diffs, err = compareTreesWith(src, dst, true, 5, opt); err == nil && len(diffs) == 0 {
					return f0, nil
				}
				if err != nil {
					diffs = []string{err.Error()}
				}
			}
			seen = 0 // something changed again after it was seen equal
			fullEvery = max(minFullPoll, 3*time.Since(f0))
			nextFull = time.Now().Add(fullEvery)
		}
		if err := alive(); err != nil {
			return time.Time{}, err
		}
		if progress != nil && time.Since(lastNote) >= progressEvery {
			lastNote = time.Now()
			progress("    waiting %s for the target: %s", time.Since(begin).Round(time.Second), strings.Join(diffs, "; "))
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return time.Time{}, fmt.Errorf("target not equal before the timeout: %s", strings.Join(diffs, "; "))
			}
			return time.Time{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// pathsEqual compares the entries at paths (relative, slash-separated) on
// both sides by type, permission bits, size, mtime and symlink target,
// in order up to the first that differs; missing on both sides is equal.
// It returns how many compared equal before that one. The caller goes on
// from there at its next poll: checking every path again at each poll
// took a third of a core from the tool while it caught up with thousands
// of changes (a poll every twice its own duration), time that rsync,
// measured after its run, never pays.
func pathsEqual(src, dst string, paths []string, opt compareOptions) (int, error) {
	for i, p := range paths {
		a, aerr := lstatNode(filepath.Join(src, filepath.FromSlash(p)), opt)
		b, berr := lstatNode(filepath.Join(dst, filepath.FromSlash(p)), opt)
		var err error
		switch {
		case errors.Is(aerr, fs.ErrNotExist) && errors.Is(berr, fs.ErrNotExist):
		case errors.Is(aerr, fs.ErrNotExist) && berr == nil:
			err = fmt.Errorf("still on the target: %q", p)
		case aerr != nil:
			err = aerr
		case errors.Is(berr, fs.ErrNotExist):
			err = fmt.Errorf("not yet on the target: %q", p)
		case berr != nil:
			err = berr
		case a != b:
			err = fmt.Errorf("differs: %q", p)
		}
		if err != nil {
			return i, err
		}
	}
	return len(paths), nil
}

func lstatNode(p string, opt compareOptions) (node, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return node{}, err
	}
	n := node{mode: fi.Mode(), mtime: mtimeNs(fi)}
	switch {
	case fi.Mode().IsRegular():
		n.size = fi.Size()
	case fi.Mode()&fs.ModeSymlink != 0:
		n.link, _ = os.Readlink(p)
	case fi.IsDir():
		n.mtime = opt.dirMtime(n.mtime)
	}
	return n, nil
}

// waitFile polls (every minPoll) until dst/rel holds exactly want, and
// returns when it first did: a stat, and a read when the size is right.
func waitFile(ctx context.Context, dst, rel string, want []byte, alive func() error) (time.Time, error) {
	p := filepath.Join(dst, filepath.FromSlash(rel))
	buf := make([]byte, len(want)+1)
	for n := 0; ; n++ {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err == nil && st.Size == int64(len(want)) {
			if got, err := readUpTo(p, buf); err == nil && bytes.Equal(got, want) {
				return time.Now(), nil
			}
		}
		if n%20 == 19 {
			if err := alive(); err != nil {
				return time.Time{}, err
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for %q: %w", rel, ctx.Err())
		case <-time.After(minPoll):
		}
	}
}

func readUpTo(p string, buf []byte) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
