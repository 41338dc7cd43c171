package index

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Paths are quoted once, by the handler: never "\"…\"", and a newline in a
// name cannot start a forged log line.
func TestEntryLogValueQuotesOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("applied", "entry", Entry{Path: "dir/a b.txt"})
	log.Info("applied", "entry", Entry{Path: "evil\nlevel=ERROR msg=forged"})
	out := buf.String()
	if !strings.Contains(out, `entry.path="dir/a b.txt"`) {
		t.Errorf("path not quoted once:\n%s", out)
	}
	if strings.Contains(out, `\"`) {
		t.Errorf("path quoted twice:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d lines for 2 records: a newline in a path escaped the quoting:\n%s", n, out)
	}
}
