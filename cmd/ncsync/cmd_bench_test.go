package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncsync/ncsync/bench"
)

// TestBenchQuick runs `ncsync bench --quick` with every scenario, as CI
// does: ncsync, and rsync (the baseline of the ratios) when it is
// installed; lsyncd and Syncthing would double the time and stay out. It
// fails if any ncsync secondary ends unequal to its primary (runBench's
// error) or a scenario produced no measurement.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real daemons for about a minute")
	}
	bin := filepath.Join(t.TempDir(), "ncsync")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ncsync: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tools := []string{bench.ToolNcsync}
	if _, err := exec.LookPath("rsync"); err == nil {
		tools = append(tools, bench.ToolRsync)
	}
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	var out, progress bytes.Buffer
	start := time.Now()
	err := runBench(ctx, benchOptions{
		Quick: true, Tools: tools, ToolsSet: true, Scenarios: bench.AllScenarios,
		Workloads: []string{bench.WorkloadWebroot, bench.WorkloadData}, SuiteRuns: 1, Seed: 1,
		Timeout: 90 * time.Second, Binary: bin, Dir: t.TempDir(), JSON: jsonPath, Progress: &progress,
	}, &out)
	t.Logf("took %s; progress:\n%s\n%s", time.Since(start).Round(time.Second), progress.String(), out.String())
	if err != nil {
		t.Fatalf("ncsync bench --quick: %v", err)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, row := range rep.Rows {
		if row.Tool == bench.ToolRsync && row.Skipped == "" && !row.Median.Equal {
			t.Errorf("rsync %s %s: target not equal (a harness fault?): %s", row.Scenario, row.Workload, row.Median.Error)
		}
		if row.Tool != bench.ToolNcsync {
			continue
		}
		if row.Skipped != "" {
			t.Errorf("%s %s skipped: %s", row.Scenario, row.Workload, row.Skipped)
			continue
		}
		if len(row.Runs) == 0 || !row.Median.Equal || row.Median.Wall <= 0 {
			t.Errorf("%s %s: %d runs, median %+v", row.Scenario, row.Workload, len(row.Runs), row.Median)
		}
		got[row.Scenario] = true
	}
	for _, s := range bench.AllScenarios {
		if !got[s] {
			t.Errorf("scenario %s: no ncsync row", s)
		}
	}
}
