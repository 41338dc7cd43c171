package ignore

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// rule is one compiled pattern.
type rule struct {
	negate  bool
	dirOnly bool
	// base: the pattern has no slash and is matched against the last path
	// component only (segs has exactly one element).
	base bool
	segs []segment
}

// compile parses one pattern line. ok is false for blank lines and comments.
func compile(p string) (r rule, ok bool, err error) {
	if !utf8.ValidString(p) {
		return rule{}, false, fmt.Errorf("%w: not valid UTF-8", ErrInvalidPattern)
	}
	if p == "" || p[0] == '#' {
		return rule{}, false, nil
	}
	p = trimTrailingSpaces(p)
	if p == "" {
		return rule{}, false, nil
	}
	if p[0] == '!' {
		r.negate = true
		p = p[1:]
	}
	if err := checkEscapes(p); err != nil {
		return rule{}, false, err
	}
	if strings.HasSuffix(p, "/") {
		r.dirOnly = true
		p = p[:len(p)-1]
	}
	anchored := false
	if strings.HasPrefix(p, "/") {
		anchored = true
		p = p[1:]
	}
	if p == "" {
		return rule{}, false, fmt.Errorf("%w: matches nothing", ErrInvalidPattern)
	}
	parts := strings.Split(p, "/")
	if len(parts) > 1 {
		anchored = true
	}
	for _, part := range parts {
		switch part {
		case "":
			return rule{}, false, fmt.Errorf("%w: empty path component", ErrInvalidPattern)
		case ".", "..":
			return rule{}, false, fmt.Errorf("%w: %q component never matches a clean path", ErrInvalidPattern, part)
		case "**":
			r.segs = append(r.segs, segment{kind: segDoubleStar})
			continue
		}
		s, err := compileSegment(part)
		if err != nil {
			return rule{}, false, err
		}
		r.segs = append(r.segs, s)
	}
	if !anchored {
		r.base = true
		if r.segs[0].kind == segDoubleStar { // "**" alone is "*"
			r.segs[0].kind = segAny
		}
		return r, true, nil
	}
	// A trailing "/**" matches everything inside, not the directory itself:
	// at least one more component.
	if n := len(r.segs); n > 1 && r.segs[n-1].kind == segDoubleStar {
		r.segs = append(r.segs, segment{kind: segAny})
	}
	return r, true, nil
}

// trimTrailingSpaces drops trailing spaces that are not escaped.
func trimTrailingSpaces(p string) string {
	for strings.HasSuffix(p, " ") {
		// The space is escaped if an odd number of backslashes precede it.
		n := 0
		for i := len(p) - 2; i >= 0 && p[i] == '\\'; i-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		p = p[:len(p)-1]
	}
	return p
}

// checkEscapes refuses a trailing lone backslash and an escaped slash (a
// path separator cannot be part of a name), so that splitting on "/" is
// safe afterwards.
func checkEscapes(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '\\' {
			continue
		}
		if i+1 == len(p) {
			return fmt.Errorf("%w: trailing backslash", ErrInvalidPattern)
		}
		if p[i+1] == '/' {
			return fmt.Errorf("%w: escaped slash", ErrInvalidPattern)
		}
		i++
	}
	return nil
}

// compileSegment parses one slash-free component into tokens and picks the
// cheapest way to match it.
func compileSegment(s string) (segment, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '*':
			for i < len(s) && s[i] == '*' {
				i++
			}
			toks = append(toks, token{kind: tokStar})
		case '?':
			i++
			toks = append(toks, token{kind: tokAny})
		case '[':
			cl, n, err := parseClass(s[i+1:])
			if err != nil {
				return segment{}, err
			}
			i += 1 + n
			toks = append(toks, token{kind: tokClass, class: cl})
		case '\\':
			r, n := utf8.DecodeRuneInString(s[i+1:]) // checkEscapes: a rune follows
			i += 1 + n
			toks = append(toks, token{kind: tokRune, r: r})
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			i += n
			toks = append(toks, token{kind: tokRune, r: r})
		}
	}
	return classify(toks), nil
}

// classify turns a token list into a segment, using a plain string compare
// for the common shapes: "name", "*", "prefix*", "*suffix".
func classify(toks []token) segment {
	lit := func(ts []token) (string, bool) {
		var b strings.Builder
		for _, t := range ts {
			if t.kind != tokRune {
				return "", false
			}
			b.WriteRune(t.r)
		}
		return b.String(), true
	}
	if s, ok := lit(toks); ok {
		return segment{kind: segLiteral, lit: s}
	}
	n := len(toks)
	if n == 1 && toks[0].kind == tokStar {
		return segment{kind: segAny}
	}
	if toks[n-1].kind == tokStar {
		if s, ok := lit(toks[:n-1]); ok {
			return segment{kind: segPrefix, lit: s}
		}
	}
	if toks[0].kind == tokStar {
		if s, ok := lit(toks[1:]); ok {
			return segment{kind: segSuffix, lit: s}
		}
	}
	// A glob has a token other than a rune, so its leading and trailing
	// rune runs are disjoint and must match the ends of the name exactly.
	i := 0
	for toks[i].kind == tokRune {
		i++
	}
	j := n
	for toks[j-1].kind == tokRune {
		j--
	}
	pre, _ := lit(toks[:i])
	suf, _ := lit(toks[j:])
	return segment{kind: segGlob, pre: pre, suf: suf, toks: toks[i:j]}
}

// parseClass parses a bracket expression; s starts just after "[". It
// returns the class and the number of bytes consumed, including "]".
func parseClass(s string) (*class, int, error) {
	cl := &class{}
	i := 0
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		cl.negate = true
		i++
	}
	first := true
	for {
		if i >= len(s) {
			return nil, 0, fmt.Errorf("%w: unterminated [", ErrInvalidPattern)
		}
		if s[i] == ']' && !first {
			return cl, i + 1, nil
		}
		first = false
		if strings.HasPrefix(s[i:], "[:") {
			end := strings.Index(s[i+2:], ":]")
			if end < 0 {
				return nil, 0, fmt.Errorf("%w: unterminated [:", ErrInvalidPattern)
			}
			name := s[i+2 : i+2+end]
			bit, ok := posixClasses[name]
			if !ok {
				return nil, 0, fmt.Errorf("%w: unknown character class [:%s:]", ErrInvalidPattern, name)
			}
			cl.posix |= bit
			i += 2 + end + 2
			continue
		}
		lo, n := classRune(s[i:])
		i += n
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			hi, n = classRune(s[i+1:])
			i += 1 + n
			if hi < lo {
				return nil, 0, fmt.Errorf("%w: range %q-%q is reversed", ErrInvalidPattern, lo, hi)
			}
		}
		cl.ranges = append(cl.ranges, runeRange{lo, hi})
	}
}

// classRune reads one possibly escaped rune inside a bracket expression. A
// backslash at the very end is taken literally; the missing "]" is reported
// by the caller.
func classRune(s string) (rune, int) {
	if s[0] == '\\' && len(s) > 1 {
		r, n := utf8.DecodeRuneInString(s[1:])
		return r, 1 + n
	}
	return utf8.DecodeRuneInString(s)
}
