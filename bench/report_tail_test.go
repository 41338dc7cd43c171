package bench

import (
	"bytes"
	"strings"
	"testing"
)

// TestTailTargets checks the verdict on the time after the last write:
// ncsync's against the rsync daemon run's of the same report, and no
// verdict where either is missing.
func TestTailTargets(t *testing.T) {
	tail := func(scen, tool string, tail float64) Row {
		return suiteRow(scen, tool, Sample{Wall: tail + 2, Mutation: 2, Tail: tail})
	}
	failed := suiteRow(ScenarioBurst, ToolRsync, Sample{Error: "rsync: exit status 23"})
	tests := []struct {
		name string
		rows []Row
		want map[string]*bool // scenario → verdict (nil: not checked)
	}{
		{"met and missed", []Row{
			tail(ScenarioUpgrade, ToolNcsync, 0.5), tail(ScenarioUpgrade, ToolRsync, 1.0), // 0.5 ≤ 0.5 × 1.0
			tail(ScenarioBurst, ToolNcsync, 0.6), tail(ScenarioBurst, ToolRsync, 1.0),
		}, map[string]*bool{ScenarioUpgrade: ptr(true), ScenarioBurst: ptr(false)}},
		{"rsync failed or absent", []Row{
			tail(ScenarioUpgrade, ToolNcsync, 0.2), tail(ScenarioBurst, ToolNcsync, 0.2), failed,
		}, map[string]*bool{ScenarioUpgrade: nil, ScenarioBurst: nil}},
		{"ncsync failed", []Row{
			suiteRow(ScenarioUpgrade, ToolNcsync, Sample{Error: "timeout"}), tail(ScenarioUpgrade, ToolRsync, 1),
		}, map[string]*bool{ScenarioUpgrade: nil}},
		{"only rsync ran", []Row{tail(ScenarioUpgrade, ToolRsync, 1)}, map[string]*bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Rows: tt.rows}
			got := r.tailTargets("suite")
			if len(got) != len(tt.want) {
				t.Fatalf("%d checks, want %d: %+v", len(got), len(tt.want), got)
			}
			for _, c := range got {
				scen, _, _ := strings.Cut(c.Target, ":")
				w, ok := tt.want[scen]
				switch {
				case !ok:
					t.Errorf("unexpected check %q", c.Target)
				case (w == nil) != (c.Met == nil):
					t.Errorf("%s: met %v (%s), want %v", c.Target, c.Met, c.Got, w)
				case w != nil && *w != *c.Met:
					t.Errorf("%s: met %v (%s), want %v", c.Target, *c.Met, c.Got, *w)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestTailMedian checks that the median time after the last write is
// taken over the runs' own figures, not as the difference of the medians
// of wall and mutation (which need not come from the same run).
func TestTailMedian(t *testing.T) {
	row := Row{Scenario: ScenarioUpgrade, Tool: ToolNcsync, Runs: []Sample{
		{Wall: 3, Mutation: 2.5, Tail: 0.5, Equal: true},
		{Wall: 4, Mutation: 1.0, Tail: 3.0, Equal: true},
		{Wall: 5, Mutation: 4.0, Tail: 1.0, Equal: true},
	}}
	row.summarize()
	if row.Median.Tail != 1.0 {
		t.Errorf("median tail %.2f, want 1.00 (wall − mutation of the medians would be %.2f)", row.Median.Tail, row.Median.Wall-row.Median.Mutation)
	}
}

// TestTailInTables checks that the text table, the ratios and the
// Markdown show the time after the last write with rsync's beside it.
func TestTailInTables(t *testing.T) {
	r := &Report{Rows: []Row{
		suiteRow(ScenarioBurst, ToolNcsync, Sample{Wall: 2.2, Mutation: 2, Tail: 0.2}),
		suiteRow(ScenarioBurst, ToolRsync, Sample{Wall: 2.8, Mutation: 2, Tail: 0.8}),
		suiteRow(ScenarioRename, ToolNcsync, Sample{Wall: 0.3, Tail: 0.3}),
		suiteRow(ScenarioRename, ToolRsync, Sample{Wall: 0.6, Tail: 0.6}),
	}}
	var b bytes.Buffer
	r.WriteTable(&b)
	for _, s := range []string{"AFTER LAST WRITE s", "burst after the last write", "burst: consistent after the last write ≤ 0.5 × an rsync daemon run started then  0.20 s vs rsync 0.80 s: 0.25 ×"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	if strings.Contains(b.String(), "rename after the last write") {
		t.Errorf("table has a ratio after the last write for rename:\n%s", b.String())
	}
	r.Checks = r.Targets()
	b.Reset()
	r.WriteMarkdown(&b)
	if s := "|  | after the last write | 0.20 s | 0.80 s (0.25) |"; !strings.Contains(b.String(), s) {
		t.Errorf("markdown lacks %q:\n%s", s, b.String())
	}
}
