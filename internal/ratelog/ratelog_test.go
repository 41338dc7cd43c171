package ratelog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func newTest() (*slog.Logger, *bytes.Buffer, *time.Time) {
	var buf bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	h := New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelWarn, time.Minute)
	h.now = func() time.Time { return now }
	return slog.New(h), &buf, &now
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestRepeatsDroppedThenCounted(t *testing.T) {
	log, buf, now := newTest()
	log = log.With("node", "nfs2")
	dial := errors.New("lookup nfs1.example: no such host")
	for range 240 { // two minutes of retries every 0.5 s
		log.Warn("cannot reach the primary", "err", dial)
		*now = now.Add(500 * time.Millisecond)
	}
	got := lines(buf)
	if len(got) != 2 {
		t.Fatalf("%d lines for 240 identical warnings over 2 min, want 2:\n%s", len(got), buf)
	}
	if strings.Contains(got[0], "repeated") {
		t.Errorf("the first line counts repeats: %s", got[0])
	}
	if !strings.Contains(got[1], "repeated=119") {
		// 0..59.5 s dropped (119 repeats) before the one at 60 s passes.
		t.Errorf("second line should count the 119 dropped repeats: %s", got[1])
	}
}

func TestDistinctAndInfoPass(t *testing.T) {
	log, buf, _ := newTest()
	log.Warn("cannot reach the primary", "err", "refused")
	log.Warn("cannot reach the primary", "err", "timeout")  // other attributes
	log.Error("cannot reach the primary", "err", "refused") // other level
	log.With("folder", "data").Warn("cannot reach the primary", "err", "refused")
	for range 5 {
		log.Info("applied", "n", 1) // below the limited level
	}
	if n := len(lines(buf)); n != 9 {
		t.Errorf("%d lines, want 9:\n%s", n, buf)
	}
}

func TestMemoryBounded(t *testing.T) {
	log, _, _ := newTest()
	h := log.Handler().(*Handler)
	for i := range 3 * maxKeys {
		log.Warn("distinct", "i", i)
	}
	if n := len(h.state.seen); n > maxKeys {
		t.Errorf("%d runs remembered, limit %d", n, maxKeys)
	}
}
