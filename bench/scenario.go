package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/ncsync/ncsync/report"
)

// workload is one tree the initial scenario copies.
type workload struct {
	name  string
	src   string
	files int
	dirs  int
	bytes int64
	// unshaped is the ncsync-only baseline of a shaped run: the same
	// workload without the emulated link.
	unshaped bool
}

// UnshapedSuffix names the workload of the unshaped baseline copies made
// when the link is emulated ("webroot-unshaped").
const UnshapedSuffix = "-unshaped"

// sameInitial maps a peer's short-delay variant to its default one: both
// make the initial copy the same way (lsyncd's startup rsync, Syncthing's
// startup scan), so the initial scenario runs only the default when both
// are selected.
var sameInitial = map[string]string{ToolLsyncd1s: ToolLsyncd, ToolSyncthing1s: ToolSyncthing}

// initialScenario copies the workload and its text part into empty
// targets with each tool, Runs times, alternating which tool goes first.
func (h *harness) initialScenario(ctx context.Context) error {
	src, m, err := h.tree(h.o.Spec)
	if err != nil {
		return err
	}
	var loads []workload
	for _, name := range h.o.Workloads {
		prefix := map[string]string{WorkloadMix: "", WorkloadWebroot: TextDir, WorkloadText: TextDir, WorkloadData: BinaryDir}[name]
		files, dirs, bytes := m.Under(prefix)
		if files == 0 || slices.ContainsFunc(loads, func(w workload) bool { return w.name == name }) {
			continue
		}
		loads = append(loads, workload{name: name, src: filepath.Join(src, filepath.FromSlash(prefix)), files: files, dirs: dirs, bytes: bytes})
	}
	if h.o.Link.Shaped() && slices.Contains(h.o.Tools, ToolNcsync) {
		for _, w := range loads[:len(loads):len(loads)] {
			w.name, w.unshaped = w.name+UnshapedSuffix, true
			loads = append(loads, w)
		}
	}
	first := len(h.report.Rows)
	defer func() { // also when interrupted: report what was measured
		for i := first; i < len(h.report.Rows); i++ {
			h.report.Rows[i].summarize()
		}
	}()
	for _, w := range loads {
		for _, t := range h.o.Tools {
			if w.unshaped && t != ToolNcsync {
				continue
			}
			row := Row{Scenario: ScenarioInitial, Workload: w.name, Tool: t, Files: w.files, Dirs: w.dirs, Bytes: w.bytes}
			if why := h.unavailable(t); why != "" {
				row.Skipped = why
				h.logf("skipping %s: %s", t, why)
			} else if base := sameInitial[t]; slices.Contains(h.o.Tools, base) && h.unavailable(base) == "" {
				row.Skipped = fmt.Sprintf("copies like %s: the delay only applies to changes after the start", base)
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
				if row == nil || row.Skipped != "" {
					continue
				}
				if len(row.Runs) > 0 && row.Runs[len(row.Runs)-1].Error != "" {
					continue // failed before: do not spend the timeout again
				}
				if slices.Contains(slowInitial, t) && len(row.Runs) >= h.o.SlowRuns {
					continue
				}
				name := fmt.Sprintf("initial-%s-%s-%d", w.name, t, r+1)
				h.logf("initial %s (%d files, %s): %s run %d/%d", w.name, w.files, report.HumanBytes(w.bytes), t, r+1, h.o.Runs)
				s, err := h.initialOn(ctx, w, t, name)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					s.Equal, s.Error = false, err.Error()
					h.logf("  %s failed: %v", t, err)
				} else {
					h.logf("  %s: %.2f s, %s on the wire, %.2f CPU s, peak RSS %s + %s, equal %v", t, s.Wall,
						report.HumanBytes(s.Wire()), s.CPU(), report.HumanBytes(s.PeakRSSSource), report.HumanBytes(s.PeakRSSTarget), s.Equal)
				}
				row.Runs = append(row.Runs, s)
			}
		}
	}
	return nil
}

// initialOn is initialOnce on the link w asks for: the emulated one, or
// none for an unshaped baseline.
func (h *harness) initialOn(ctx context.Context, w workload, tool, name string) (Sample, error) {
	if !w.unshaped {
		return h.initialOnce(ctx, tool, w.src, name)
	}
	if err := h.tn.shape(Link{}); err != nil {
		return Sample{}, err
	}
	s, err := h.initialOnce(ctx, tool, w.src, name)
	return s, errors.Join(err, h.tn.shape(h.o.Link))
}

func (h *harness) initialOnce(ctx context.Context, tool, src, name string) (s Sample, err error) {
	dir, done, err := h.runDir(name)
	if err != nil {
		return Sample{}, err
	}
	// Every initial copy starts from the same page cache: only its source
	// in it (as root; see dropCaches). Without this, a copy made after
	// others ran found gigabytes of their targets in the cache, and the
	// tools paid for reclaiming them unevenly (ncsync's data-set copy took
	// 4.4 s right after a drop and 6.1 s two runs later; rsync's did not
	// change).
	if dropCaches() {
		if err := warm(src); err != nil {
			return Sample{}, err
		}
	}
	defer func() { done(err != nil && ctx.Err() == nil) }()
	switch tool {
	case ToolRsync:
		return h.rsync.initial(ctx, src, dir)
	case ToolNcsync:
		return h.ncsync.initial(ctx, src, dir)
	}
	return h.replicaInitial(ctx, tool, src, dir)
}

// replicaInitial measures a continuous peer (lsyncd, Syncthing) from its
// start on src and an empty target until the target is seen equal.
func (h *harness) replicaInitial(ctx context.Context, tool, src, dir string) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, h.o.Timeout)
	defer cancel()
	dst := filepath.Join(dir, "target")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return Sample{}, err
	}
	if tool == ToolSyncthing || tool == ToolSyncthing1s {
		// Syncthing puts its marker into the folder it sends: give it a
		// tree of its own (new directories, the same files hard-linked),
		// not the cached source.
		own := filepath.Join(dir, "source")
		if out, err := exec.CommandContext(ctx, "cp", "-al", src, own).CombinedOutput(); err != nil {
			return Sample{}, fmt.Errorf("link %q: %w: %s", src, err, out)
		}
		src = own
	}
	rep := h.newReplica(tool)
	h.addNote(rep.note())
	defer rep.stop()
	w0t, w0s := wireMeter{tn: h.tn}.read()
	start := time.Now()
	if err := rep.start(ctx, src, dst, dir); err != nil {
		return Sample{}, err
	}
	rss := startRSSSampler(rep, rssInterval)
	defer rss.stop()
	if err := rep.sync(ctx); err != nil {
		return Sample{}, err
	}
	at, err := waitEqual(ctx, src, dst, nil, rep.compare(), rep.alive, h.logf)
	if err != nil {
		return Sample{}, err
	}
	after := readResources(rep, h.tn)
	var s Sample
	s.fill(resources{toTarget: w0t, toSource: w0s}, after, rss.take(rep))
	s.Wall = at.Sub(start).Seconds()
	s.Equal = true
	return s, nil
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
			s.Wall, s.IdleCPUSource, report.HumanBytes(s.RSSSource), report.HumanBytes(s.AnonSource), report.HumanBytes(s.PeakRSSSource),
			s.IdleCPUTarget, report.HumanBytes(s.RSSTarget), report.HumanBytes(s.AnonTarget), report.HumanBytes(s.PeakRSSTarget), report.HumanBytes(s.IdleWire))
		row.Runs = append(row.Runs, s)
	}
	return nil
}
