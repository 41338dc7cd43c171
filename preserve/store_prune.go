package preserve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Pruned is a record that Prune removed (or, in a dry run, would remove),
// with the space it took.
type Pruned struct {
	Record Record
	Bytes  int64 // allocated by the record
}

// Prune removes every record preserved before cutoff, oldest first, and
// returns them; with dryRun it only lists them. Each record is first
// renamed to a temp name, so a crash in the middle leaves either the whole
// record or a temp directory that Sweep removes. Records that cannot be
// read are left alone and named in the error, after the others were
// pruned. Only the store's writer (the daemon, or a process while the
// daemon is not running) may prune.
func (s *Store) Prune(ctx context.Context, cutoff time.Time, dryRun bool) ([]Pruned, error) {
	var old []Record
	listErr := s.Each(func(r Record) error {
		if r.Preserved.Before(cutoff) {
			old = append(old, r)
		}
		return nil
	})
	var out []Pruned
	for _, r := range old {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		n := s.recordBytes(r.ID)
		if !dryRun {
			gone, err := s.remove(r.ID)
			if err != nil {
				return out, fmt.Errorf("prune %s (%q of folder %s): %w", r.ID, r.Path, r.Folder, err)
			}
			if !gone {
				continue // pruned meanwhile by someone else
			}
			s.release(n)
		}
		out = append(out, Pruned{Record: r, Bytes: n})
	}
	return out, listErr
}

// remove takes the record id out of the listing with one rename, then
// deletes it. removed is false if the record was gone already.
func (s *Store) remove(id ID) (removed bool, err error) {
	var tmp string
	for range idAttempts {
		tmp = tempPrefix + "prune-" + strconv.FormatUint(rand.Uint64(), 36)
		err = unix.Renameat2(s.fd, string(id), s.fd, tmp, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			err = unix.Renameat(s.fd, string(id), s.fd, tmp)
		}
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
			break
		}
	}
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := unix.Fsync(s.fd); err != nil {
		return true, fmt.Errorf("fsync conflict store %q: %w", s.dir, err)
	}
	return true, removeRecordDir(s.fd, tmp)
}

// PruneAll prunes several stores (see Store.Prune), going on past a store
// that fails; the error names every failure.
func PruneAll(ctx context.Context, stores []*Store, cutoff time.Time, dryRun bool) ([]Pruned, error) {
	var out []Pruned
	var errs []error
	for _, s := range stores {
		p, err := s.Prune(ctx, cutoff, dryRun)
		out = append(out, p...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}
