package conflict

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxActorLen bounds an actor name in the text form of a [Vector].
const MaxActorLen = 255

// ErrSyntax is wrapped by [ParseVector] for text that is not a canonical
// vector.
var ErrSyntax = errors.New("invalid version vector")

// String returns the canonical text form: actors in ascending byte order
// with their counters, "{1.nfs1:100,2.nfs2:105}"; "{}" for the empty
// vector. It parses back with [ParseVector] when every actor is valid: 1 to
// MaxActorLen printable ASCII bytes other than space, ',', ':', '{' and '}'
// (as [TermActor] produces from a valid node name).
func (v Vector) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range v.c {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.actor)
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(c.n, 10))
	}
	b.WriteByte('}')
	return b.String()
}

// ParseVector parses the canonical form that [Vector.String] writes and
// nothing else: no spaces, actors valid, strictly ascending and unique,
// counters decimal without sign or leading zeros and not zero. So
// ParseVector(s) succeeds only if ParseVector(s).String() == s.
func ParseVector(s string) (Vector, error) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return Vector{}, fmt.Errorf("parse %q: missing braces: %w", s, ErrSyntax)
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return Vector{}, nil
	}
	var v Vector
	for item := range strings.SplitSeq(body, ",") {
		actor, num, ok := strings.Cut(item, ":")
		if !ok {
			return Vector{}, fmt.Errorf("parse %q: %q has no ':': %w", s, item, ErrSyntax)
		}
		if err := validActor(actor); err != nil {
			return Vector{}, fmt.Errorf("parse %q: %w", s, err)
		}
		if len(v.c) > 0 && v.c[len(v.c)-1].actor >= actor {
			return Vector{}, fmt.Errorf("parse %q: actor %q out of order or repeated: %w", s, actor, ErrSyntax)
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n == 0 || num[0] == '0' || num[0] == '+' {
			return Vector{}, fmt.Errorf("parse %q: counter %q of %q is not a positive decimal: %w", s, num, actor, ErrSyntax)
		}
		v.c = append(v.c, counter{actor, n})
	}
	return v, nil
}

// validActor enforces the actor alphabet documented on [Vector.String].
func validActor(a string) error {
	if a == "" || len(a) > MaxActorLen {
		return fmt.Errorf("actor %q: length %d not in 1..%d: %w", a, len(a), MaxActorLen, ErrSyntax)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c <= ' ' || c > '~' || c == ',' || c == ':' || c == '{' || c == '}' {
			return fmt.Errorf("actor %q: byte %#x not allowed: %w", a, c, ErrSyntax)
		}
	}
	return nil
}
