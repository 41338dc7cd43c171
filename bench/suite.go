package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ncsync/ncsync/report"
)

// Pauses of a suite, not measured: after a scenario, so that a tool
// finishes what it does after the target became equal; between latency
// writes, so that each is a change of its own.
const (
	settlePause  = 500 * time.Millisecond
	latencyPause = 200 * time.Millisecond
	rssInterval  = 50 * time.Millisecond
)

// scenarioNotes describe each mutation scenario for the report.
var scenarioNotes = map[string]string{
	ScenarioUpgrade: "small edits in ~25% of the webroot's files, 1.5% added and 1.5% deleted, one directory renamed",
	ScenarioBigEdit: "4 KiB overwritten in the middle of the large file",
	ScenarioInsert:  "4 KiB inserted at the front of the large file",
	ScenarioBurst:   "new small files in a new directory tree, written one after the other like an untar",
	ScenarioRename:  "a directory holding 1–10% of the webroot's files renamed",
	ScenarioLatency: "single 1 KiB files, each timed from before its write until whole on the target (polled every 5 ms); wall is the median",
	ScenarioBarrier: "another upgrade, then `ncsync barrier --timeout 10m` at once: wall is from the upgrade's start until the barrier returns, the time an operator waits in maintenance mode",
}

// suiteScenarios runs the selected mutation scenarios (and barrier):
// for each tool, one suite per run on a fresh copy of the suite tree.
func (h *harness) suiteScenarios(ctx context.Context) error {
	var want []string
	for _, s := range mutationScenarios {
		if slices.Contains(h.o.Scenarios, s) {
			want = append(want, s)
		}
	}
	barrier := slices.Contains(h.o.Scenarios, ScenarioBarrier)
	if len(want) == 0 && !barrier {
		return nil
	}
	src, m, err := h.tree(h.o.SuiteSpec)
	if err != nil {
		return err
	}
	big, err := largeFile(m)
	if err != nil {
		return err
	}
	tools := h.tools()
	first := len(h.report.Rows)
	files, dirs, bytes := m.Under("")
	addRow := func(s, t string) {
		row := Row{Scenario: s, Workload: h.o.SuiteSpec.Name, Tool: t, Files: files, Dirs: dirs, Bytes: bytes, Note: scenarioNotes[s]}
		switch s {
		case ScenarioBurst:
			row.Note = fmt.Sprintf("%s new small files in a new directory tree, written one after the other like an untar", thousands(int64(h.o.BurstFiles)))
		case ScenarioLatency:
			row.Note = fmt.Sprintf("%d %s", h.latencyWrites(t), row.Note)
		}
		row.Skipped = h.unavailable(t)
		h.report.Rows = append(h.report.Rows, row)
	}
	for _, s := range want {
		for _, t := range tools {
			addRow(s, t)
		}
	}
	if barrier {
		addRow(ScenarioBarrier, ToolNcsync)
		if !slices.Contains(tools, ToolNcsync) {
			h.report.Find(ScenarioBarrier, h.o.SuiteSpec.Name, ToolNcsync).Skipped = "ncsync is not among --tools"
		}
	}
	defer func() {
		for i := first; i < len(h.report.Rows); i++ {
			h.report.Rows[i].summarize()
		}
	}()
	for run := range h.o.SuiteRuns {
		for _, t := range tools {
			if h.unavailable(t) != "" {
				continue
			}
			scen := want
			if barrier && t == ToolNcsync {
				scen = append(slices.Clone(want), ScenarioBarrier)
			}
			if len(scen) == 0 {
				continue
			}
			if err := h.suite(ctx, t, run, src, big, scen); err != nil {
				return err
			}
		}
	}
	return nil
}

// suite runs scen with one tool on a fresh copy of src. Failures are
// recorded in the rows; the error is for an interrupted run.
func (h *harness) suite(ctx context.Context, tool string, run int, src, big string, scen []string) (err error) {
	row := func(s string) *Row { return h.report.Find(s, h.o.SuiteSpec.Name, tool) }
	fail := func(from int, msg string) {
		for _, s := range scen[from:] {
			if r := row(s); r != nil && r.Skipped == "" {
				r.Runs = append(r.Runs, Sample{Error: msg})
			}
		}
	}
	dir, done, err := h.runDir(fmt.Sprintf("suite-%s-%d", tool, run+1))
	if err != nil {
		return err
	}
	failed := false
	defer func() { done(failed && ctx.Err() == nil) }()
	h.logf("suite %s run %d/%d: copying the source tree", tool, run+1, h.o.SuiteRuns)
	srcCopy, dst := filepath.Join(dir, "source"), filepath.Join(dir, "target")
	if out, err := exec.CommandContext(ctx, "cp", "-a", src, srcCopy).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %q: %w: %s", src, err, out)
	}
	// Write the copy back now, not while the tool copies or a scenario runs.
	syscall.Sync()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	rep := h.newReplica(tool)
	h.addNote(rep.note())
	sctx, cancel := context.WithTimeout(ctx, h.o.Timeout)
	defer cancel()
	defer rep.stop()
	start := time.Now()
	if err := rep.start(sctx, srcCopy, dst, dir); err != nil {
		failed = true
		fail(0, err.Error())
		h.logf("  %s did not start: %v", tool, err)
		return ctx.Err()
	}
	rss := startRSSSampler(rep, rssInterval)
	defer rss.stop()
	h.logf("  %s: initial copy", tool)
	at, _, err := h.converge(sctx, rep, srcCopy, dst, nil)
	if err != nil {
		failed = true
		fail(0, "initial copy: "+err.Error())
		h.logf("  %s initial copy failed: %v", tool, err)
		return ctx.Err()
	}
	h.logf("  %s: initial copy equal after %.2f s", tool, at.Sub(start).Seconds())
	for i, s := range scen {
		time.Sleep(settlePause)
		mctx, cancel := context.WithTimeout(ctx, h.o.Timeout)
		sample, err := h.measure(mctx, tool, rep, rss, s, srcCopy, dst, big)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var skip *skipError
		switch {
		case errors.As(err, &skip):
			row(s).Skipped = skip.why
			h.logf("  %s %s skipped: %s", tool, s, skip.why)
			continue
		case err != nil:
			sample.Equal, sample.Error = false, err.Error()
			failed = true
			h.logf("  %s %s failed: %v", tool, s, err)
		default:
			h.logf("  %s %s: %s", tool, s, sampleLine(s, sample))
		}
		row(s).Runs = append(row(s).Runs, sample)
		if aerr := rep.alive(); aerr != nil {
			fail(i+1, aerr.Error())
			return nil
		}
		if err != nil {
			// The target may be anywhere: bring it back to equal before
			// the next scenario, or give up on this suite.
			if _, _, err := h.converge(sctx, rep, srcCopy, dst, nil); err != nil {
				fail(i+1, "target not equal after the previous scenario failed")
				return ctx.Err()
			}
		}
	}
	return nil
}

// maxPasses bounds how often converge runs a one-shot tool (rsync).
const maxPasses = 3

// converge runs rep's sync and waits until dst equals src, returning when
// it was first seen equal and how many passes it took. rsync, which does
// nothing more once it has returned, is checked at once and run again (up
// to maxPasses) when one pass left the target unequal.
func (h *harness) converge(ctx context.Context, rep replica, src, dst string, touched []string) (time.Time, int, error) {
	if _, ok := rep.(*rsyncReplica); ok {
		for pass := 1; pass <= maxPasses; pass++ {
			if err := rep.sync(ctx); err != nil {
				return time.Time{}, pass, err
			}
			now, cancel := context.WithDeadline(ctx, time.Now())
			at, err := waitEqual(now, src, dst, touched, rep.compare(), rep.alive, nil)
			cancel()
			if err == nil {
				return at, pass, nil
			}
			if ctx.Err() != nil {
				return time.Time{}, pass, ctx.Err()
			}
			h.logf("    rsync pass %d left the target unequal (%s): running it again", pass, oneLine(err.Error()))
		}
		return time.Time{}, maxPasses, fmt.Errorf("target unequal after %d rsync passes", maxPasses)
	}
	if err := rep.sync(ctx); err != nil {
		return time.Time{}, 1, err
	}
	at, err := waitEqual(ctx, src, dst, touched, rep.compare(), rep.alive, h.logf)
	return at, 1, err
}

// skipError marks a scenario that cannot run here.
type skipError struct{ why string }

func (e *skipError) Error() string { return e.why }

func sampleLine(s string, x Sample) string {
	switch s {
	case ScenarioLatency:
		return fmt.Sprintf("median %.3f s, max %.3f s over %d writes, %s on the wire, %.2f CPU s",
			x.Wall, x.LatencyMax, len(x.Latencies), report.HumanBytes(x.Wire()), x.CPU())
	case ScenarioBarrier:
		return fmt.Sprintf("%.2f s from the upgrade's start (barrier call %.2f s), %s on the wire, %.2f CPU s, equal %v",
			x.Wall, x.BarrierCall, report.HumanBytes(x.Wire()), x.CPU(), x.Equal)
	}
	passes := ""
	if x.Passes > 1 {
		passes = fmt.Sprintf(" (%d rsync passes)", x.Passes)
	}
	return fmt.Sprintf("%.2f s%s (mutation %.2f s, then %.2f s), %s on the wire, %.2f CPU s (%.2f+%.2f), peak RSS %s + %s",
		x.Wall, passes, x.Mutation, x.Tail, report.HumanBytes(x.Wire()), x.CPU(), x.CPUSource, x.CPUTarget,
		report.HumanBytes(x.PeakRSSSource), report.HumanBytes(x.PeakRSSTarget))
}

// measure applies one scenario's mutation to src and measures until dst
// is equal again.
func (h *harness) measure(ctx context.Context, tool string, rep replica, rss *rssSampler, scen, src, dst, big string) (Sample, error) {
	if scen == ScenarioLatency {
		return h.latency(ctx, tool, rep, rss, src, dst)
	}
	before := readResources(rep, h.tn)
	rss.take(rep)
	seed := h.o.Seed
	start := time.Now()
	var c change
	var err error
	switch scen {
	case ScenarioUpgrade:
		c, err = upgrade(src, seed)
	case ScenarioBigEdit:
		c, err = bigEdit(src, big, seed)
	case ScenarioInsert:
		c, err = insertFront(src, big, seed)
	case ScenarioBurst:
		c, err = burst(src, h.o.BurstFiles, seed)
	case ScenarioRename:
		c, err = renameDir(src, seed)
	case ScenarioBarrier:
		c, err = upgrade(src, seed+1)
	default:
		err = fmt.Errorf("unknown scenario %q", scen)
	}
	if err != nil {
		return Sample{}, fmt.Errorf("mutation: %w", err)
	}
	written := time.Now()
	s := Sample{Mutation: written.Sub(start).Seconds()}
	if scen == ScenarioBarrier {
		n, ok := rep.(*ncsyncReplica)
		if !ok {
			return Sample{}, &skipError{"barrier is ncsync's alone"}
		}
		b0 := time.Now()
		out, err := exec.CommandContext(ctx, n.run.bin, "barrier", "--config", n.c.primary.Config, "--timeout", "10m").CombinedOutput()
		end := time.Now()
		if err != nil && strings.Contains(string(out), "unknown command") {
			return Sample{}, &skipError{"`ncsync barrier` does not exist in this build: " + oneLine(lastLines(string(out), 1))}
		}
		s.Wall, s.BarrierCall = end.Sub(start).Seconds(), end.Sub(b0).Seconds()
		if err != nil {
			return s, fmt.Errorf("ncsync barrier: %w: %s", err, oneLine(lastLines(string(bytes.TrimSpace(out)), 3)))
		}
		diffs, err := compareTreesWith(src, dst, true, 5, rep.compare())
		if err != nil {
			return s, err
		}
		if len(diffs) > 0 {
			return s, fmt.Errorf("barrier returned with the target unequal: %s", strings.Join(diffs, "; "))
		}
	} else {
		at, passes, err := h.converge(ctx, rep, src, dst, c.touched)
		if err != nil {
			return Sample{}, err
		}
		s.Wall, s.Tail, s.Passes = at.Sub(start).Seconds(), at.Sub(written).Seconds(), passes
	}
	after := readResources(rep, h.tn)
	peak := rss.take(rep)
	s.fill(before, after, peak)
	s.Equal = true
	return s, nil
}

// fill sets the counters of s from two readings and the RSS peaks.
func (s *Sample) fill(before, after resources, peak [2]int64) {
	s.WireToTarget, s.WireToSource = after.toTarget-before.toTarget, after.toSource-before.toSource
	s.CPUSource, s.CPUTarget = (after.cpu[0] - before.cpu[0]).Seconds(), (after.cpu[1] - before.cpu[1]).Seconds()
	s.PeakRSSSource, s.PeakRSSTarget = peak[0], peak[1]
}

// latencyWrites is how many single files the latency scenario writes
// with tool.
func (h *harness) latencyWrites(tool string) int {
	if slices.Contains(slowTools, tool) {
		return min(h.o.LatencyWrites, h.o.SlowLatencyWrites)
	}
	return h.o.LatencyWrites
}

// latency writes latencyWrites small files one after the other, each timed
// from before its write until it is whole on the target.
func (h *harness) latency(ctx context.Context, tool string, rep replica, rss *rssSampler, src, dst string) (Sample, error) {
	if err := os.MkdirAll(filepath.Join(src, filepath.FromSlash(latencyDir)), 0o755); err != nil {
		return Sample{}, err
	}
	if err := rep.sync(ctx); err != nil {
		return Sample{}, err
	}
	if _, err := waitEqual(ctx, src, dst, []string{latencyDir}, rep.compare(), rep.alive, h.logf); err != nil {
		return Sample{}, fmt.Errorf("latency directory: %w", err)
	}
	time.Sleep(settlePause)
	before := readResources(rep, h.tn)
	rss.take(rep)
	var s Sample
	for i := range h.latencyWrites(tool) {
		start := time.Now()
		rel, want, err := probe(src, i, h.o.Seed)
		if err != nil {
			return s, err
		}
		if err := rep.sync(ctx); err != nil {
			return s, err
		}
		at, err := waitFile(ctx, dst, rel, want, rep.alive)
		if err != nil {
			return s, err
		}
		s.Latencies = append(s.Latencies, at.Sub(start).Seconds())
		time.Sleep(latencyPause)
	}
	after := readResources(rep, h.tn)
	s.fill(before, after, rss.take(rep))
	v := slices.Clone(s.Latencies)
	slices.Sort(v)
	s.Wall = medianFloat(v)
	s.LatencyMax = v[len(v)-1]
	diffs, err := compareTreesWith(src, dst, true, 5, rep.compare())
	if err == nil && len(diffs) > 0 {
		// Whole content first, metadata (mtime) may follow: wait for it
		// before the next scenario, not timed.
		_, err = waitEqual(ctx, src, dst, []string{latencyDir}, rep.compare(), rep.alive, h.logf)
	}
	if err != nil {
		return s, err
	}
	s.Equal = true
	return s, nil
}

func medianFloat(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
