// Package ratelog keeps repeated warnings and errors from flooding the log:
// a slog.Handler that passes the first of a run of identical records (same
// level, message and attributes), drops the repeats for an interval, and then
// passes one again with the number it dropped. A peer that cannot be
// resolved or refuses connections then costs a line a minute, not one per
// retry.
package ratelog

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults.
const (
	DefaultInterval = time.Minute
	maxKeys         = 4096 // distinct records remembered at once
)

// Handler wraps another handler. Records below MinLevel pass untouched.
type Handler struct {
	next     slog.Handler
	min      slog.Level
	interval time.Duration
	now      func() time.Time
	prefix   string // attributes and groups added by WithAttrs/WithGroup
	state    *state
}

type state struct {
	mu   sync.Mutex
	seen map[string]*run
}

type run struct {
	last    time.Time // when a record of this run was last passed
	dropped int
}

// New returns a Handler that rate-limits records at min or above (usually
// slog.LevelWarn) to one per interval.
func New(next slog.Handler, min slog.Level, interval time.Duration) *Handler {
	return &Handler{next: next, min: min, interval: interval, now: time.Now, state: &state{seen: map[string]*run{}}}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min {
		return h.next.Handle(ctx, r)
	}
	key := h.key(r)
	now := h.now()
	s := h.state
	s.mu.Lock()
	ru, ok := s.seen[key]
	if ok && now.Sub(ru.last) < h.interval {
		ru.dropped++
		s.mu.Unlock()
		return nil
	}
	dropped := 0
	if ok {
		dropped = ru.dropped
		ru.last, ru.dropped = now, 0
	} else {
		if len(s.seen) >= maxKeys {
			s.forget(now, h.interval)
		}
		s.seen[key] = &run{last: now}
	}
	s.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", dropped), slog.Duration("repeated_within", h.interval))
	}
	return h.next.Handle(ctx, r)
}

// forget drops the runs that ended an interval ago (a repeat would pass
// anyway), or all of them if every run is live: memory stays bounded.
func (s *state) forget(now time.Time, interval time.Duration) {
	for k, ru := range s.seen {
		if now.Sub(ru.last) >= interval {
			delete(s.seen, k)
		}
	}
	if len(s.seen) >= maxKeys {
		clear(s.seen)
	}
}

// key is the record without its time: level, message, attributes.
func (h *Handler) key(r slog.Record) string {
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(r.Level.String())
	b.WriteByte(0)
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteByte(0)
		b.WriteString(a.String())
		return true
	})
	return b.String()
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range as {
		b.WriteString(a.String())
		b.WriteByte(0)
	}
	c.prefix = b.String()
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	c.prefix = h.prefix + "[" + name + "]\x00"
	return &c
}
