package bench

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/report"
)

// ScenarioMillion replicates a tree of a million tiny files in 10,000
// directories (Options.MillionFiles changes the count) and measures what
// grows with the number of files: the initial scan rate, memory and the
// index at rest, a barrier on the idle tree, and a restart until the
// primary watches again (its startup stat walk, nothing re-hashed).
// ncsync only; it runs when named.
const ScenarioMillion = "million"

// Million is the million scenario's tree: 1,000,000 files of 100–500
// bytes in 10,000 directories.
var Million = Spec{
	Name:      "million",
	TextFiles: 1_000_000, TextDirs: 10_000,
	TextMedian: 250, TextSigma: 0.35, TextMin: 100, TextMax: 500,
}

// millionSpec is Million with n files, in n/100 directories.
func millionSpec(n int) Spec {
	if n <= 0 || n == Million.TextFiles {
		return Million
	}
	s := Million
	s.Name = fmt.Sprintf("million-%d", n)
	s.TextFiles, s.TextDirs = n, max(1, n/100)
	return s
}

// MillionResult is what the million scenario measured on one run.
type MillionResult struct {
	// ScanRate is files per second of the primary's first scan (from its
	// start until the scan ended).
	ScanRate float64 `json:"scan_files_per_s"`
	// Restart is from starting the primary again until its startup scan
	// ended (it watches from then on); Rehashed the files it read again
	// meanwhile, RestartCPU its CPU seconds until then.
	Restart    float64 `json:"restart_to_watching_s"`
	Rehashed   uint64  `json:"rehashed_files"`
	RestartCPU float64 `json:"restart_cpu_s"`
	// Barrier is how long `ncsync barrier` took on the idle tree.
	Barrier float64 `json:"idle_barrier_s"`
	// IndexBytes is the primary's state directory on disk.
	IndexBytes int64 `json:"index_bytes"`
}

// millionScenario runs the million scenario Runs times.
func (h *harness) millionScenario(ctx context.Context) error {
	spec := millionSpec(h.o.MillionFiles)
	src, m, err := h.tree(spec)
	if err != nil {
		return err
	}
	text, bin := m.Bytes()
	row := Row{Scenario: ScenarioMillion, Workload: spec.Name, Tool: ToolNcsync, Files: len(m.Files), Dirs: m.Dirs, Bytes: text + bin,
		Note: "initial copy, 10 s at rest (RSS), barrier, primary restarted"}
	defer func() {
		row.summarize()
		h.report.Rows = append(h.report.Rows, row)
	}()
	for r := range h.o.Runs {
		h.logf("million (%d files in %d dirs): run %d/%d", len(m.Files), m.Dirs, r+1, h.o.Runs)
		dir, done, err := h.runDir(fmt.Sprintf("million-%d", r+1))
		if err != nil {
			return err
		}
		// As every initial copy: only the source in the page cache, the
		// tree just generated or one reused alike (a run read a cold
		// source at ~7 times the kernel CPU per file of a cached one).
		if dropCaches() {
			if err := warm(src); err != nil {
				return err
			}
		}
		s, err := h.millionOnce(ctx, src, dir)
		done(err != nil && ctx.Err() == nil)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.Equal, s.Error = false, err.Error()
			h.logf("  failed: %v", err)
		} else {
			mr := s.Million
			h.logf("  scan %.0f files/s; initial copy %.1f s; at rest primary RSS %s (anon %s); barrier %.3f s; restart to watching %.2f s (%d re-hashed, %.2f CPU s); state %s",
				mr.ScanRate, s.Wall, report.HumanBytes(s.RSSSource), report.HumanBytes(s.AnonSource), mr.Barrier, mr.Restart, mr.Rehashed, mr.RestartCPU, report.HumanBytes(mr.IndexBytes))
		}
		row.Runs = append(row.Runs, s)
	}
	return nil
}

func (h *harness) millionOnce(ctx context.Context, src, dir string) (Sample, error) {
	n := h.ncsync
	start := time.Now()
	c, got, err := n.startAndWait(ctx, src, dir)
	if c != nil {
		defer c.stop()
	}
	if err != nil {
		return Sample{}, err
	}
	s := n.sample(got)
	s.Million = &MillionResult{}
	if len(got.status.Folders) == 1 {
		f := got.status.Folders[0]
		if el := f.LastScan.Sub(start).Seconds(); el > 0 {
			s.Million.ScanRate = float64(f.Files) / el
		}
	}
	select {
	case <-ctx.Done():
		return s, ctx.Err()
	case <-time.After(10 * time.Second):
	}
	ps, err := readProc(c.primary.Pid())
	if err != nil {
		return s, err
	}
	s.RSSSource, s.AnonSource = ps.RSS, ps.Anon
	if ss, err := readProc(c.secondary.Pid()); err == nil {
		s.RSSTarget, s.AnonTarget = ss.RSS, ss.Anon
	}
	pcl, err := dialControl(ctx, c, c.primary)
	if err != nil {
		return s, err
	}
	t0 := time.Now()
	_, err = pcl.Barrier(ctx, control.BarrierRequest{}, nil)
	s.Million.Barrier = time.Since(t0).Seconds()
	pcl.Close()
	if err != nil {
		return s, fmt.Errorf("barrier: %w", err)
	}
	c.primary.stop()
	s.Million.IndexBytes = dirBytes(filepath.Join(dir, "state-"+primaryNode))
	t0 = time.Now()
	if err = c.primary.Start(); err != nil {
		return s, err
	}
	pcl, err = dialControl(ctx, c, c.primary)
	if err != nil {
		return s, err
	}
	defer pcl.Close()
	for {
		st, err := statusOf(ctx, pcl)
		if err == nil && len(st.Folders) == 1 && st.Folders[0].Scans > 0 {
			s.Million.Restart = time.Since(t0).Seconds()
			s.Million.Rehashed = st.Folders[0].FilesHashed
			ps, err := readProc(c.primary.Pid())
			if err != nil {
				return s, err
			}
			s.Million.RestartCPU = ps.CPU.Seconds()
			return s, nil
		}
		if err := c.running(); err != nil {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// writeMillion prints the million scenario's figures.
func (r *Report) writeMillion(w io.Writer) {
	for _, row := range r.Rows {
		if row.Scenario != ScenarioMillion {
			continue
		}
		fmt.Fprintf(w, "\nmillion: ncsync on %s files in %s dirs (%s)\n", thousands(int64(row.Files)), thousands(int64(row.Dirs)), report.HumanBytes(row.Bytes))
		for _, s := range row.Runs {
			if s.Error != "" || s.Million == nil {
				fmt.Fprintf(w, "  FAILED: %s\n", oneLine(s.Error))
				continue
			}
			m := s.Million
			fmt.Fprintf(w, "  initial scan %.0f files/s; initial copy until equal %.1f s (%.2f CPU s); at rest: primary RSS %s (anonymous %s), secondary RSS %s (anonymous %s); state directory %s on disk\n",
				m.ScanRate, s.Wall, s.CPU(), report.HumanBytes(s.RSSSource), report.HumanBytes(s.AnonSource),
				report.HumanBytes(s.RSSTarget), report.HumanBytes(s.AnonTarget), report.HumanBytes(m.IndexBytes))
			fmt.Fprintf(w, "  barrier on the idle tree %.3f s; primary restarted: watching after %.2f s (its stat walk of every file), %d re-hashed, %.2f CPU s\n",
				m.Barrier, m.Restart, m.Rehashed, m.RestartCPU)
		}
	}
}

// millionTargets: restart to watching ≤ 30 s, barrier ≤ 100 ms, anonymous
// memory at rest ≤ 150 MiB (the full million only).
func (r *Report) millionTargets() []TargetCheck {
	var out []TargetCheck
	yes := func(v bool) *bool { return &v }
	for _, row := range r.Rows {
		if row.Scenario != ScenarioMillion || row.Files < Million.TextFiles {
			continue
		}
		for _, s := range row.Runs {
			if s.Million == nil {
				out = append(out, TargetCheck{"million: restart to watching ≤ 30 s", "not measured", nil})
				continue
			}
			m := s.Million
			out = append(out,
				TargetCheck{"million: restart to watching ≤ 30 s, none re-hashed", fmt.Sprintf("%.2f s, %d re-hashed", m.Restart, m.Rehashed), yes(m.Restart <= 30 && m.Rehashed == 0)},
				TargetCheck{"million: barrier on the idle tree ≤ 100 ms", fmt.Sprintf("%.0f ms", 1000*m.Barrier), yes(m.Barrier <= 0.1)},
				TargetCheck{"million: primary's anonymous memory at rest ≤ 150 MiB", report.HumanBytes(s.AnonSource), yes(s.AnonSource <= 150<<20)})
		}
	}
	return out
}
