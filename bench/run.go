package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/ncsync/ncsync/status"
)

// Scenarios and tools.
const (
	// ScenarioInitial copies a tree into an empty target, once the whole
	// workload and once its text part alone, with each tool.
	ScenarioInitial = "initial"
	// ScenarioIdle measures ncsync's daemons at rest on a large tree.
	ScenarioIdle = "idle"

	ToolRsync  = "rsync"
	ToolNcsync = "ncsync"
)

// Workloads of the initial scenario.
const (
	WorkloadMix  = "mix"  // the whole generated tree
	WorkloadText = "text" // its TextDir alone
)

// Options configure Run.
type Options struct {
	// Binary is the ncsync executable to run as the daemons.
	Binary string
	// Dir holds the generated trees (kept and reused by later runs with the
	// same spec and seed) and one directory per run.
	Dir       string
	Scenarios []string
	// Tools to run in the initial scenario (default both; the idle
	// scenario is ncsync's alone).
	Tools []string
	// Workloads of the initial scenario to run (default both: WorkloadMix,
	// WorkloadText).
	Workloads []string
	// Spec is the initial scenario's workload, IdleSpec the idle one's.
	Spec     Spec
	IdleSpec Spec
	// IdleWindow is how long the daemons are watched at rest.
	IdleWindow time.Duration
	// Runs is how often each measurement is repeated.
	Runs int
	Seed uint64
	// Timeout bounds one run until consistent.
	Timeout time.Duration
	// ScanInterval, when set, is written to both daemons' configs.
	ScanInterval time.Duration
	// KeepRuns keeps each run's directory (targets, configs, logs).
	KeepRuns bool
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

func (o *Options) defaults() {
	if len(o.Scenarios) == 0 {
		o.Scenarios = []string{ScenarioInitial, ScenarioIdle}
	}
	if len(o.Tools) == 0 {
		o.Tools = []string{ToolRsync, ToolNcsync}
	}
	if len(o.Workloads) == 0 {
		o.Workloads = []string{WorkloadMix, WorkloadText}
	}
	if o.Spec.Name == "" {
		o.Spec = Mix1GiB
	}
	if o.IdleSpec.Name == "" {
		o.IdleSpec = Idle100k
	}
	if o.IdleWindow <= 0 {
		o.IdleWindow = 30 * time.Second
	}
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Validate reports options Run cannot work with.
func (o Options) Validate() error {
	for _, s := range o.Scenarios {
		if s != ScenarioInitial && s != ScenarioIdle {
			return fmt.Errorf("unknown scenario %q: use %s or %s", s, ScenarioInitial, ScenarioIdle)
		}
	}
	for _, t := range o.Tools {
		if t != ToolRsync && t != ToolNcsync {
			return fmt.Errorf("unknown tool %q: use %s or %s", t, ToolRsync, ToolNcsync)
		}
	}
	for _, w := range o.Workloads {
		if w != WorkloadMix && w != WorkloadText {
			return fmt.Errorf("unknown workload %q: use %s or %s", w, WorkloadMix, WorkloadText)
		}
	}
	if o.Dir == "" {
		return errors.New("no work directory")
	}
	if o.Binary == "" && (slices.Contains(o.Tools, ToolNcsync) || slices.Contains(o.Scenarios, ScenarioIdle)) {
		return errors.New("no ncsync binary")
	}
	return nil
}

// harness is one Run's state.
type harness struct {
	o      Options
	report *Report
	ncsync ncsyncRun
	rsync  rsyncRun
	rsErr  error    // why rsync cannot run
	trash  []string // run directories to remove at the end
}

// Run generates the workloads (or reuses them from o.Dir) and measures the
// scenarios. A run that fails is recorded in the report, not returned as an
// error; errors are for setup that makes measuring impossible.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	h := &harness{o: o, report: &Report{Started: time.Now(), Host: host, CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), Seed: o.Seed, Runs: o.Runs}}
	h.report.Notes = append(h.report.Notes,
		"bytes on the wire: TCP payload both ways through a counting proxy in the harness, on loopback (TLS and protocol framing included, TCP/IP headers not)",
		"wall: from the start of the tool (rsync client; both ncsync daemons) until the target is complete; ncsync's end is the first status poll (the secondary every 50 ms, then the primary to confirm) that shows the secondary caught up and after which the trees compare equal; the proxy holds a connection that arrives before the primary listens until it does, so the secondary's reconnect backoff at start is not measured",
		"CPU and peak RSS: both sides' processes (rsync client + daemon and its children; ncsync primary + secondary); the proxy's own cost is not counted",
		"source trees are in the page cache; rsync fsyncs nothing, ncsync makes every file durable before acknowledging it; each run writes a fresh target on the same file system, and targets are removed only at the end (ext4 creates files slowly for a while after many were deleted)")
	if slices.Contains(o.Tools, ToolRsync) {
		if p, err := findRsync(); err != nil {
			h.rsErr = err
		} else {
			h.rsync = rsyncRun{rsync: p, timeout: o.Timeout}
		}
	}
	if o.Binary != "" {
		sockDir, err := os.MkdirTemp("", "ncb-") // unix socket paths must stay short
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(sockDir)
		pki := filepath.Join(o.Dir, "pki")
		if _, err := os.Stat(filepath.Join(pki, "ca.pem")); err != nil {
			if err := certs(ctx, o.Binary, pki); err != nil {
				return nil, err
			}
		}
		h.ncsync = ncsyncRun{bin: o.Binary, pki: pki, sockDir: sockDir, scanInterval: o.ScanInterval, timeout: o.Timeout, progress: h.logf}
	}
	defer h.emptyTrash()
	for _, s := range o.Scenarios {
		var err error
		switch s {
		case ScenarioInitial:
			err = h.initialScenario(ctx)
		case ScenarioIdle:
			err = h.idleScenario(ctx)
		}
		if err != nil {
			return h.report, err
		}
	}
	return h.report, nil
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.o.Progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// tree returns the source tree of spec, generating it on first use.
func (h *harness) tree(spec Spec) (string, Manifest, error) {
	base := filepath.Join(h.o.Dir, fmt.Sprintf("src-%s-%d", spec.Name, h.o.Seed))
	mpath := base + ".manifest.json"
	if b, err := os.ReadFile(mpath); err == nil {
		var m Manifest
		if json.Unmarshal(b, &m) == nil && m.Spec == spec.Name && m.Seed == h.o.Seed {
			h.logf("reusing %s tree %q", spec.Name, base)
			return base, m, nil
		}
	}
	os.RemoveAll(base)
	os.Remove(mpath)
	h.logf("generating %s tree (about %s) in %q", spec.Name, status.HumanBytes(spec.ApproxBytes()), base)
	start := time.Now()
	m, err := GenerateTree(base, spec, h.o.Seed)
	if err != nil {
		return "", m, err
	}
	text, bin := m.Bytes()
	h.logf("generated %d files in %d dirs, %s text + %s binary in %s", len(m.Files), m.Dirs,
		status.HumanBytes(text), status.HumanBytes(bin), time.Since(start).Round(time.Millisecond))
	b, err := json.Marshal(m)
	if err != nil {
		return "", m, err
	}
	if err := os.WriteFile(mpath, b, 0o644); err != nil {
		return "", m, fmt.Errorf("write %q: %w", mpath, err)
	}
	return base, m, nil
}

// runDir makes a fresh directory for one run. Calling done marks it for
// removal at the end of Run unless the options or failed say to keep it.
// Removal waits because ext4 allocates inodes slowly right after many were
// freed (it skips recently deleted ones), which would slow the next run.
func (h *harness) runDir(name string) (dir string, done func(failed bool), err error) {
	dir = filepath.Join(h.o.Dir, "runs", name)
	if err := os.RemoveAll(dir); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	return dir, func(failed bool) {
		switch {
		case failed:
			h.logf("  kept %q for diagnosis", dir)
		case !h.o.KeepRuns:
			h.trash = append(h.trash, dir)
		}
		// Write back this run's dirty pages now, not during the next run.
		syscall.Sync()
	}, nil
}

// emptyTrash removes the run directories once nothing is measured anymore.
func (h *harness) emptyTrash() {
	if len(h.trash) == 0 {
		return
	}
	h.logf("removing %d run directories", len(h.trash))
	for _, d := range h.trash {
		os.RemoveAll(d)
	}
	h.trash = nil
}
