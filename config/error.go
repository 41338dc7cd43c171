package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// Error is one problem in a configuration. Parse and Validate return one
// *Error or several joined with errors.Join; errors.As finds the first.
type Error struct {
	File string // the file name given to Parse or Load; may be empty
	Line int    // 1-based; 0 when unknown (a Config built in code)
	Key  string // the key concerned, e.g. "tls.ca" or "folders[1].path"; may be empty
	Msg  string
}

func (e *Error) Error() string {
	s := "config"
	if e.File != "" {
		s += " " + e.File
		if e.Line > 0 {
			s += ":" + strconv.Itoa(e.Line)
		}
	} else if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	s += ": "
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Msg
}

// problems collects errors in a file, located by key.
type problems struct {
	file string
	pos  map[string]int // key → line
	errs []*Error
}

func (p *problems) at(line int, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// add reports a problem with key, at the line where key was read (if it was).
func (p *problems) add(key, format string, args ...any) {
	p.at(p.pos[key], key, format, args...)
}

// err returns the problems in line order, joined, or nil.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i].Line, p.errs[j].Line
		return a != 0 && (b == 0 || a < b)
	})
	if len(p.errs) == 1 {
		return p.errs[0]
	}
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}
