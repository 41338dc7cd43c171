package preserve

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Get returns the record id.
func (s *Store) Get(id ID) (Record, error) {
	if _, err := ParseID(string(id)); err != nil {
		return Record{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	fd, err := unix.Openat(s.fd, string(id)+"/"+metaName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ENOENT) {
		return Record{}, fmt.Errorf("preserved version %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("preserved version %s: %w", id, err)
	}
	f := os.NewFile(uintptr(fd), metaName)
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetaSize+1))
	if err != nil {
		return Record{}, fmt.Errorf("preserved version %s: %w", id, err)
	}
	rec, err := DecodeRecord(data)
	if err != nil {
		return Record{}, fmt.Errorf("preserved version %s: %w", id, err)
	}
	if rec.ID != id {
		return Record{}, fmt.Errorf("preserved version %s: %w: its metadata names %s", id, ErrCorrupt, rec.ID)
	}
	rec.KeptAt = s.keptAt(rec)
	return rec, nil
}

// Each calls fn for every record, oldest first, reading one record at a
// time. Records that cannot be read are skipped and reported in the
// returned error (wrapping ErrCorrupt or the read error) after the others
// were visited; an error from fn stops the walk and is returned.
func (s *Store) Each(fn func(Record) error) error {
	ids, err := s.ids()
	if err != nil {
		return err
	}
	var bad []error
	for _, id := range ids {
		rec, err := s.Get(id)
		if errors.Is(err, ErrNotFound) {
			continue // not (yet) a record
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return errors.Join(bad...)
}

// List returns every record, oldest first, and, like Each, an error naming
// the records that could not be read.
func (s *Store) List() ([]Record, error) {
	var out []Record
	err := s.Each(func(r Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// ids returns the record names in the store, sorted (oldest first).
func (s *Store) ids() ([]ID, error) {
	names, err := s.names()
	if err != nil {
		return nil, fmt.Errorf("list conflict store %q: %w", s.dir, err)
	}
	var ids []ID
	for _, n := range names {
		if strings.HasPrefix(n, ".") {
			continue
		}
		if id, perr := ParseID(n); perr == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// ListAll lists the records of several stores, oldest first, and an error
// naming what could not be read (the rest is listed).
func ListAll(stores []*Store) ([]Record, error) {
	var out []Record
	var errs []error
	for _, s := range stores {
		recs, err := s.List()
		out = append(out, recs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	slices.SortStableFunc(out, func(a, b Record) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out, errors.Join(errs...)
}
