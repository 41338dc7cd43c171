package ignore

import (
	"strings"
	"unicode/utf8"
)

type segKind uint8

const (
	segLiteral    segKind = iota // exact name
	segAny                       // "*": any name
	segPrefix                    // "abc*"
	segSuffix                    // "*.log"
	segGlob                      // anything else: token list
	segDoubleStar                // "**": zero or more components
)

// segment matches one path component (segDoubleStar: any number of them).
// For segGlob, pre and suf are the literal runs the name must start and end
// with (checked first: most names fail there), and toks is what lies
// between them.
type segment struct {
	kind     segKind
	lit      string
	pre, suf string
	toks     []token
}

type tokKind uint8

const (
	tokRune  tokKind = iota // one literal rune
	tokAny                  // "?"
	tokStar                 // "*"
	tokClass                // "[...]"
)

type token struct {
	kind  tokKind
	r     rune
	class *class
}

type runeRange struct{ lo, hi rune }

// class is a bracket expression.
type class struct {
	negate bool
	ranges []runeRange
	posix  uint16 // bit set of posixClasses
}

// posixClasses are the classes of POSIX bracket expressions, over ASCII as
// in git's wildmatch and Go's regexp.
var posixClasses = map[string]uint16{
	"alnum": 1 << 0, "alpha": 1 << 1, "blank": 1 << 2, "cntrl": 1 << 3,
	"digit": 1 << 4, "graph": 1 << 5, "lower": 1 << 6, "print": 1 << 7,
	"punct": 1 << 8, "space": 1 << 9, "upper": 1 << 10, "xdigit": 1 << 11,
}

func (c *class) match(r rune) bool {
	in := c.posix != 0 && posixMatch(c.posix, r)
	for i := 0; !in && i < len(c.ranges); i++ {
		in = c.ranges[i].lo <= r && r <= c.ranges[i].hi
	}
	return in != c.negate
}

func posixMatch(set uint16, r rune) bool {
	if r > 0x7f {
		return false
	}
	b := byte(r)
	lower := 'a' <= b && b <= 'z'
	upper := 'A' <= b && b <= 'Z'
	digit := '0' <= b && b <= '9'
	graph := '!' <= b && b <= '~'
	is := [...]bool{
		lower || upper || digit,              // alnum
		lower || upper,                       // alpha
		b == ' ' || b == '\t',                // blank
		b < ' ' || b == 0x7f,                 // cntrl
		digit,                                // digit
		graph,                                // graph
		lower,                                // lower
		graph || b == ' ',                    // print
		graph && !(lower || upper || digit),  // punct
		b == ' ' || ('\t' <= b && b <= '\r'), // space
		upper,                                // upper
		digit || ('a' <= b && b <= 'f') || ('A' <= b && b <= 'F'), // xdigit
	}
	for i, ok := range is {
		if ok && set&(1<<i) != 0 {
			return true
		}
	}
	return false
}

// match reports whether the single component name matches s.
func (s *segment) match(name string) bool {
	switch s.kind {
	case segLiteral:
		return name == s.lit
	case segAny:
		return true
	case segPrefix:
		return strings.HasPrefix(name, s.lit)
	case segSuffix:
		return strings.HasSuffix(name, s.lit)
	case segGlob:
		if len(name) < len(s.pre)+len(s.suf) || !strings.HasPrefix(name, s.pre) || !strings.HasSuffix(name, s.suf) {
			return false
		}
		return matchToks(s.toks, name[len(s.pre):len(name)-len(s.suf)])
	}
	return false
}

// matchToks matches a component against a token list. Every token but "*"
// consumes exactly one rune, so remembering only the last "*" and retrying
// it one rune further is complete (the classic wildcard algorithm), and the
// cost is O(len(toks)*len(name)) at worst, never exponential.
func matchToks(toks []token, name string) bool {
	ti, ni := 0, 0
	starT, starN := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			if t.kind == tokStar {
				starT, starN = ti, ni
				ti++
				continue
			}
			if ni < len(name) {
				r, n := rune(name[ni]), 1
				if r >= utf8.RuneSelf {
					r, n = utf8.DecodeRuneInString(name[ni:])
				}
				if t.matchRune(r) {
					ti++
					ni += n
					continue
				}
			}
		} else if ni == len(name) {
			return true
		}
		if starT < 0 || starN >= len(name) {
			return false
		}
		_, n := utf8.DecodeRuneInString(name[starN:])
		starN += n
		ti, ni = starT+1, starN
	}
}

func (t *token) matchRune(r rune) bool {
	switch t.kind {
	case tokRune:
		return t.r == r
	case tokAny:
		return true
	case tokClass:
		return t.class.match(r)
	}
	return false
}

// matchSegs matches a whole clean, non-empty path against segments. It is
// matchToks one level up: components instead of runes, "**" instead of "*"
// (matching whole components), so the same last-star backtracking is
// complete. Offsets index into path; a component ends at the next "/" and
// pi > len(path) means every component is consumed.
func matchSegs(segs []segment, path string) bool {
	si, pi := 0, 0
	starS, starP := -1, 0
	for {
		if si < len(segs) {
			s := &segs[si]
			if s.kind == segDoubleStar {
				starS, starP = si, pi
				si++
				continue
			}
			if pi <= len(path) {
				end := componentEnd(path, pi)
				if s.match(path[pi:end]) {
					si++
					pi = end + 1
					continue
				}
			}
		} else if pi > len(path) {
			return true
		}
		if starS < 0 || starP > len(path) {
			return false
		}
		starP = componentEnd(path, starP) + 1
		si, pi = starS+1, starP
	}
}

// componentEnd returns the offset of the "/" ending the component that
// starts at i, or len(path).
func componentEnd(path string, i int) int {
	if j := strings.IndexByte(path[i:], '/'); j >= 0 {
		return i + j
	}
	return len(path)
}
