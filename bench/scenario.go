package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/ncsync/ncsync/status"
)

// workload is one tree the initial scenario copies.
type workload struct {
	name  string
	src   string
	files int
	dirs  int
	bytes int64
}

// initialScenario copies the workload and its text part into empty
// targets with each tool, Runs times, alternating which tool goes first.
func (h *harness) initialScenario(ctx context.Context) error {
	src, m, err := h.tree(h.o.Spec)
	if err != nil {
		return err
	}
	text, bin := m.Bytes()
	var loads []workload
	if slices.Contains(h.o.Workloads, WorkloadMix) {
		loads = append(loads, workload{name: WorkloadMix, src: src, files: len(m.Files), dirs: m.Dirs, bytes: text + bin})
	}
	if slices.Contains(h.o.Workloads, WorkloadText) && text > 0 && (bin > 0 || len(loads) == 0) {
		loads = append(loads, workload{name: WorkloadText, src: filepath.Join(src, TextDir),
			files: m.TextFiles(), dirs: h.o.Spec.TextDirs - 1, bytes: text})
	}
	first := len(h.report.Rows)
	defer func() { // also when interrupted: report what was measured
		for i := first; i < len(h.report.Rows); i++ {
			h.report.Rows[i].summarize()
		}
	}()
	for _, w := range loads {
		for _, t := range h.o.Tools {
			row := Row{Scenario: ScenarioInitial, Workload: w.name, Tool: t, Files: w.files, Dirs: w.dirs, Bytes: w.bytes}
			if t == ToolRsync && h.rsErr != nil {
				row.Skipped = h.rsErr.Error()
				h.logf("skipping rsync: %v", h.rsErr)
			}
			h.report.Rows = append(h.report.Rows, row)
		}
	}
	for r := range h.o.Runs {
		for _, w := range loads {
			tools := h.o.Tools
			if r%2 == 1 {
				tools = []string{tools[len(tools)-1]}
				tools = append(tools, h.o.Tools[:len(h.o.Tools)-1]...)
			}
			for _, t := range tools {
				row := h.report.Find(ScenarioInitial, w.name, t)
				if row.Skipped != "" {
					continue
				}
				if len(row.Runs) > 0 && row.Runs[len(row.Runs)-1].Error != "" {
					continue // failed before: do not spend the timeout again
				}
				name := fmt.Sprintf("initial-%s-%s-%d", w.name, t, r+1)
				h.logf("initial %s (%d files, %s): %s run %d/%d", w.name, w.files, status.HumanBytes(w.bytes), t, r+1, h.o.Runs)
				s, err := h.initialOnce(ctx, t, w.src, name)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					s.Equal, s.Error = false, err.Error()
					h.logf("  %s failed: %v", t, err)
				} else {
					h.logf("  %s: %.2f s, %s on the wire, %.2f CPU s, peak RSS %s + %s, equal %v", t, s.Wall,
						status.HumanBytes(s.Wire()), s.CPU(), status.HumanBytes(s.PeakRSSSource), status.HumanBytes(s.PeakRSSTarget), s.Equal)
				}
				row.Runs = append(row.Runs, s)
			}
		}
	}
	return nil
}

func (h *harness) initialOnce(ctx context.Context, tool, src, name string) (s Sample, err error) {
	dir, done, err := h.runDir(name)
	if err != nil {
		return Sample{}, err
	}
	defer func() { done(err != nil && ctx.Err() == nil) }()
	if tool == ToolRsync {
		return h.rsync.initial(ctx, src, dir)
	}
	return h.ncsync.initial(ctx, src, dir)
}

// idleScenario starts ncsync on the idle tree and watches it at rest.
func (h *harness) idleScenario(ctx context.Context) error {
	src, m, err := h.tree(h.o.IdleSpec)
	if err != nil {
		return err
	}
	text, bin := m.Bytes()
	row := Row{Scenario: ScenarioIdle, Workload: h.o.IdleSpec.Name, Tool: ToolNcsync,
		Files: len(m.Files), Dirs: m.Dirs, Bytes: text + bin,
		Note: fmt.Sprintf("%s at rest after the initial copy, nothing polled meanwhile", h.o.IdleWindow)}
	defer func() {
		row.summarize()
		h.report.Rows = append(h.report.Rows, row)
	}()
	for r := range h.o.Runs {
		h.logf("idle (%d files in %d dirs): ncsync run %d/%d: initial copy, then %s at rest", len(m.Files), m.Dirs, r+1, h.o.Runs, h.o.IdleWindow)
		dir, done, err := h.runDir(fmt.Sprintf("idle-%d", r+1))
		if err != nil {
			return err
		}
		s, err := h.ncsync.idle(ctx, src, dir, h.o.IdleWindow)
		done(err != nil && ctx.Err() == nil)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.Equal, s.Error = false, err.Error()
			h.logf("  ncsync failed: %v", err)
			row.Runs = append(row.Runs, s)
			break
		}
		h.logf("  initial copy %.2f s; at rest: primary %.2f%% CPU, RSS %s (anon %s, peak %s); secondary %.2f%% CPU, RSS %s (anon %s, peak %s); %s on the wire",
			s.Wall, s.IdleCPUSource, status.HumanBytes(s.RSSSource), status.HumanBytes(s.AnonSource), status.HumanBytes(s.PeakRSSSource),
			s.IdleCPUTarget, status.HumanBytes(s.RSSTarget), status.HumanBytes(s.AnonTarget), status.HumanBytes(s.PeakRSSTarget), status.HumanBytes(s.IdleWire))
		row.Runs = append(row.Runs, s)
	}
	return nil
}
