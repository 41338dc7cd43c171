package preserve

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// ID names one record: the UTC time it was preserved (to the second) and
// 8 random hex digits, "20261122-105300-1a2b3c4d". IDs sort by time.
type ID string

const (
	idTimeLayout = "20060102-150405"
	idLen        = len(idTimeLayout) + 1 + 8
)

// newID returns a fresh ID for time t.
func newID(t time.Time) ID {
	return ID(fmt.Sprintf("%s-%08x", t.UTC().Format(idTimeLayout), rand.Uint32()))
}

// ParseID checks that s is a well-formed ID (so that it is safe as a file
// name: no separators, no dots) and returns it.
func ParseID(s string) (ID, error) {
	if len(s) != idLen || s[len(idTimeLayout)] != '-' {
		return "", fmt.Errorf("preserved version id %q: want the form 20261122-105300-1a2b3c4d", s)
	}
	if _, err := time.Parse(idTimeLayout, s[:len(idTimeLayout)]); err != nil {
		return "", fmt.Errorf("preserved version id %q: bad time: %w", s, err)
	}
	for _, c := range s[len(idTimeLayout)+1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("preserved version id %q: want 8 lower-case hex digits at the end", s)
		}
	}
	return ID(s), nil
}

// Time returns when the record was made (to the second), zero if id is
// malformed.
func (id ID) Time() time.Time {
	if len(id) != idLen {
		return time.Time{}
	}
	t, err := time.Parse(idTimeLayout, string(id[:len(idTimeLayout)]))
	if err != nil {
		return time.Time{}
	}
	return t
}
