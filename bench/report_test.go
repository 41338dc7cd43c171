package bench

import (
	"bytes"
	"strings"
	"testing"
)

// suiteRow is a measured row of the suite tree.
func suiteRow(scen, tool string, s Sample) Row {
	s.Equal = s.Error == ""
	row := Row{Scenario: scen, Workload: "suite", Tool: tool, Runs: []Sample{s}}
	row.summarize()
	return row
}

// TestReportOK checks that one unequal ncsync run fails the report (and
// so `ncsync bench`), while a peer's failure or a skipped row does not.
func TestReportOK(t *testing.T) {
	good := suiteRow(ScenarioUpgrade, ToolNcsync, Sample{Wall: 1})
	tests := []struct {
		name string
		rows []Row
		want bool
	}{
		{"all equal", []Row{good, suiteRow(ScenarioUpgrade, ToolRsync, Sample{Wall: 2})}, true},
		{"peer failed", []Row{good, suiteRow(ScenarioUpgrade, ToolSyncthing, Sample{Error: "timeout"})}, true},
		{"ncsync skipped", []Row{{Scenario: ScenarioBarrier, Tool: ToolNcsync, Skipped: "not among --tools"}}, true},
		{"ncsync unequal", []Row{good, suiteRow(ScenarioBurst, ToolNcsync, Sample{Wall: 3, Error: "target not equal before the timeout"})}, false},
		{"ncsync no run", []Row{{Scenario: ScenarioRename, Workload: "suite", Tool: ToolNcsync}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Rows: tt.rows}
			for i := range r.Rows {
				r.Rows[i].summarize()
			}
			if got := r.OK(); got != tt.want {
				t.Errorf("OK() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTargets checks each target against figures on both sides of it.
func TestTargets(t *testing.T) {
	r := &Report{Rows: []Row{
		suiteRow(ScenarioLatency, ToolNcsync, Sample{Wall: 0.05, LatencyMax: 0.6}),
		suiteRow(ScenarioLatency, ToolRsync, Sample{Wall: 0.3, LatencyMax: 0.4}),
		suiteRow(ScenarioLatency, ToolLsyncd1s, Sample{Wall: 1.1, LatencyMax: 1.2}),
		suiteRow(ScenarioUpgrade, ToolNcsync, Sample{Wall: 2, Tail: 0.6}),
		suiteRow(ScenarioUpgrade, ToolRsync, Sample{Wall: 1, Tail: 1}), // not continuous: not the baseline
		suiteRow(ScenarioUpgrade, ToolLsyncd1s, Sample{Wall: 3}),
		suiteRow(ScenarioUpgrade, ToolSyncthing1s, Sample{Wall: 20}),
		suiteRow(ScenarioBarrier, ToolNcsync, Sample{Wall: 1.4}),
		suiteRow(ScenarioInsert, ToolNcsync, Sample{Wall: 1, WireToTarget: 200 << 10, WireToSource: 10 << 10}),
		suiteRow(ScenarioInsert, ToolRsync, Sample{Wall: 1, WireToTarget: 100 << 10, WireToSource: 50 << 10}),
	}}
	want := map[string]bool{
		"latency median ≤ 0.25 × the best peer's":                                           true,  // 0.05 ≤ 0.25 × 0.3
		"latency max ≤ 0.5 s":                                                               false, // 0.6
		"upgrade ≤ 0.5 × the best continuous peer's upgrade time to consistency":            false, // 2 > 1.5
		"barrier ≤ 0.5 × the best continuous peer's upgrade time to consistency":            true,  // 1.4 ≤ 1.5
		"insert bytes on the wire ≤ 3 chunks plus metadata (256.0 KiB) and ≤ rsync's":       false, // 210 KiB > rsync's 150 KiB
		"upgrade: consistent after the last write ≤ 0.5 × an rsync daemon run started then": false, // 0.6 > 0.5 × 1
	}
	got := r.Targets()
	if len(got) != len(want) {
		t.Errorf("%d checks, want %d: %+v", len(got), len(want), got)
	}
	for _, c := range got {
		w, ok := want[c.Target]
		switch {
		case !ok:
			t.Errorf("unexpected check %q", c.Target)
		case c.Met == nil:
			t.Errorf("%s: not checked (%s)", c.Target, c.Got)
		case *c.Met != w:
			t.Errorf("%s: met %v (%s), want %v", c.Target, *c.Met, c.Got, w)
		}
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	for _, s := range []string{"MISSED", "met", "upgrade wall", "÷ lsyncd-1s"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	r.Checks = got
	b.Reset()
	r.WriteMarkdown(&b)
	t.Logf("markdown:\n%s", b.String())
	for _, s := range []string{
		"| scenario | measure | ncsync | rsync | lsyncd-1s | syncthing-1s |",
		"| upgrade | wall | 2.00 s | 1.00 s (2.00) | 3.00 s (0.67) | 20.00 s (0.10) |",
		"| barrier | wall (peers: their upgrade) | 1.40 s | 1.00 s (1.40) | 3.00 s (0.47) | 20.00 s (0.07) |",
		"| latency | median | 0.050 s | 0.300 s (0.17) | 1.100 s (0.05) | – |",
		"| latency max ≤ 0.5 s | 0.600 s | **missed** |",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("markdown lacks %q", s)
		}
	}
}
