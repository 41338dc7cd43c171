package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ncsync/ncsync/report"
)

// Scenarios and tools.
const (
	// ScenarioInitial copies a tree into an empty target with each tool.
	ScenarioInitial = "initial"
	// ScenarioIdle measures ncsync's daemons at rest on a large tree.
	ScenarioIdle = "idle"
	// The mutation scenarios run in one suite per tool: the tool copies
	// the suite tree, then each mutation is applied to the source and
	// measured until the target is verified equal again.
	ScenarioUpgrade = "upgrade" // ~25% of the webroot edited, files added and deleted, a directory renamed
	ScenarioBigEdit = "bigedit" // 4 KiB overwritten inside a large file
	ScenarioInsert  = "insert"  // 4 KiB inserted at the front of a large file
	ScenarioBurst   = "burst"   // 10,000 new small files (an untar)
	ScenarioRename  = "rename"  // a directory with many files renamed
	ScenarioLatency = "latency" // single small files, each until whole on the target
	// ScenarioBarrier is ncsync's alone: another upgrade, then `ncsync
	// barrier`; wall is until the barrier returns, from the upgrade's start.
	ScenarioBarrier = "barrier"

	ToolRsync  = "rsync"
	ToolNcsync = "ncsync"
	// lsyncd with default.rsync to the rsync daemon: its default delay
	// (15 s) and delay = 1.
	ToolLsyncd   = "lsyncd"
	ToolLsyncd1s = "lsyncd-1s"
	// Syncthing, send-only to receive-only: its default watcher delay
	// (10 s) and fsWatcherDelayS = 1.
	ToolSyncthing   = "syncthing"
	ToolSyncthing1s = "syncthing-1s"
)

// AllScenarios in the order they run.
var AllScenarios = []string{ScenarioInitial, ScenarioUpgrade, ScenarioBigEdit, ScenarioInsert,
	ScenarioBurst, ScenarioRename, ScenarioLatency, ScenarioBarrier, ScenarioIdle}

// ScaleScenarios are ncsync's alone and take long: they run only when
// named, never with the quick workloads (CI).
var ScaleScenarios = []string{ScenarioSecondaries, ScenarioMillion}

// DefaultScenarios are the side-by-side ones: all but idle (ncsync's
// alone), which runs when named.
var DefaultScenarios = AllScenarios[:len(AllScenarios)-1]

// AllTools in the order they run (ncsync first, then its peers).
var AllTools = []string{ToolNcsync, ToolRsync, ToolLsyncd, ToolLsyncd1s, ToolSyncthing, ToolSyncthing1s}

// slowTools wait out a delay of 10–15 s before they copy a change.
var slowTools = []string{ToolLsyncd, ToolSyncthing}

// slowInitial are the tools whose initial copy is repeated at most
// SlowRuns times.
var slowInitial = []string{ToolSyncthing, ToolSyncthing1s}

// mutationScenarios run in a suite; barrier needs one too.
var mutationScenarios = []string{ScenarioUpgrade, ScenarioBigEdit, ScenarioInsert, ScenarioBurst,
	ScenarioRename, ScenarioLatency}

// Workloads of the initial scenario: parts of the generated tree.
const (
	WorkloadWebroot = "webroot" // TextDir
	WorkloadData    = "data"    // BinaryDir
	WorkloadMix     = "mix"     // the whole generated tree
	WorkloadText    = "text"    // TextDir (older name of webroot)
)

// Options configure Run.
type Options struct {
	// Binary is the ncsync executable to run as the daemons.
	Binary string
	// Dir holds the generated trees (kept and reused by later runs with the
	// same spec and seed) and one directory per run.
	Dir       string
	Scenarios []string
	// Tools to compare (default AllTools; the idle and barrier scenarios
	// are ncsync's alone). Tools that are not installed are skipped with a
	// note.
	Tools []string
	// Workloads of the initial scenario to run (default WorkloadWebroot and
	// WorkloadData).
	Workloads []string
	// Spec is the initial scenario's tree, SuiteSpec the mutation
	// scenarios' and IdleSpec the idle one's.
	Spec      Spec
	SuiteSpec Spec
	IdleSpec  Spec
	// BurstFiles is how many files the burst scenario creates (default
	// 10,000); LatencyWrites how many single files the latency scenario
	// writes (default 10).
	BurstFiles    int
	LatencyWrites int
	// SlowLatencyWrites is how many writes the latency scenario makes
	// with the default-delay peers (lsyncd, syncthing), each of which
	// waits out their delay (10–15 s) by design (default LatencyWrites,
	// at most 5).
	SlowLatencyWrites int
	// IdleWindow is how long the daemons are watched at rest.
	IdleWindow time.Duration
	// Runs is how often each initial measurement is repeated;
	// SuiteRuns how often each tool's mutation suite is (default 1).
	Runs      int
	SuiteRuns int
	// SlowRuns caps the repetitions of Syncthing's initial copies, which
	// take many times rsync's (default 1).
	SlowRuns int
	Seed     uint64
	// Timeout bounds one run until consistent.
	Timeout time.Duration
	// ScanInterval, when set, is written to both daemons' configs.
	ScanInterval time.Duration
	// KeepRuns keeps each run's directory (targets, configs, logs).
	KeepRuns bool
	// ProfileDir, when set, receives CPU and peak heap profiles of every
	// ncsync daemon (see Daemon.Profile), for go tool pprof.
	ProfileDir string
	// NoNetns keeps the target side on loopback even when running as root.
	NoNetns bool
	// Secondaries are the numbers of secondaries the secondaries scenario
	// copies to at once (default DefaultSecondaries).
	Secondaries []int
	// MillionFiles is how many files the million scenario's tree holds
	// (default 1,000,000).
	MillionFiles int
	// Link is the emulated link between the sides of every tool (see
	// Link). When it is shaped, the initial scenario also copies each
	// workload with ncsync unshaped, as the baseline of its CPU target.
	Link Link
	// NcsyncBandwidth, when set, is written to the ncsync primary's
	// config as limits.bandwidth ("10MB/s"); NcsyncBandwidthRate is its
	// value in bytes per second, for the report.
	NcsyncBandwidth     string
	NcsyncBandwidthRate int64
	// Progress receives one line per step; nil discards.
	Progress io.Writer
}

func (o *Options) defaults() {
	if len(o.Scenarios) == 0 {
		o.Scenarios = DefaultScenarios
	}
	if len(o.Tools) == 0 {
		o.Tools = AllTools
	}
	if len(o.Workloads) == 0 {
		o.Workloads = []string{WorkloadWebroot, WorkloadData}
	}
	if o.Spec.Name == "" {
		o.Spec = Nextcloud
	}
	if o.SuiteSpec.Name == "" {
		o.SuiteSpec = Suite
	}
	if o.IdleSpec.Name == "" {
		o.IdleSpec = Idle100k
	}
	if o.BurstFiles <= 0 {
		o.BurstFiles = 10000
	}
	if o.LatencyWrites <= 0 {
		o.LatencyWrites = 10
	}
	if o.SlowLatencyWrites <= 0 {
		o.SlowLatencyWrites = min(o.LatencyWrites, 5)
	}
	if len(o.Secondaries) == 0 {
		o.Secondaries = DefaultSecondaries
	}
	if o.IdleWindow <= 0 {
		o.IdleWindow = 30 * time.Second
	}
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if o.SlowRuns <= 0 {
		o.SlowRuns = 1
	}
	if o.SuiteRuns <= 0 {
		o.SuiteRuns = 1
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
		if !slices.Contains(AllScenarios, s) && !slices.Contains(ScaleScenarios, s) {
			return fmt.Errorf("unknown scenario %q: use %s", s, strings.Join(append(slices.Clone(AllScenarios), ScaleScenarios...), ", "))
		}
	}
	for _, t := range o.Tools {
		if !slices.Contains(AllTools, t) {
			return fmt.Errorf("unknown tool %q: use %s", t, strings.Join(AllTools, ", "))
		}
	}
	for _, w := range o.Workloads {
		if w != WorkloadWebroot && w != WorkloadData && w != WorkloadMix && w != WorkloadText {
			return fmt.Errorf("unknown workload %q: use %s, %s or %s", w, WorkloadWebroot, WorkloadData, WorkloadMix)
		}
	}
	if o.Dir == "" {
		return errors.New("no work directory")
	}
	if o.MillionFiles < 0 {
		return fmt.Errorf("%d files for the million scenario: want at least 1", o.MillionFiles)
	}
	for _, n := range o.Secondaries {
		if n < 1 || n > 64 {
			return fmt.Errorf("%d secondaries: want 1 to 64", n)
		}
	}
	needsNcsync := slices.Contains(o.Tools, ToolNcsync) || slices.Contains(o.Scenarios, ScenarioIdle) ||
		slices.Contains(o.Scenarios, ScenarioBarrier) || slices.ContainsFunc(o.Scenarios, func(s string) bool { return slices.Contains(ScaleScenarios, s) })
	if o.Binary == "" && needsNcsync {
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
	// missing says why a selected tool cannot run; lsyncd and syncthing
	// are the peers' binaries.
	missing           map[string]string
	lsyncd, syncthing string
	tn                *targetNet // where target sides run
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
	h.report.LoadStart = loadAvg()
	defer func() {
		h.report.LoadEnd = loadAvg()
		h.report.Elapsed = time.Since(h.report.Started).Seconds()
	}()
	h.tn = &targetNet{disabled: "--no-netns"}
	if !o.NoNetns {
		h.tn = setupTargetNet()
	}
	defer h.tn.teardown()
	if h.tn.disabled != "" {
		h.logf("receiving side on loopback: %s", h.tn.disabled)
	} else {
		h.logf("receiving side in network namespace %q over a veth pair", h.tn.ns)
	}
	if err := h.tn.shape(o.Link); err != nil {
		return nil, fmt.Errorf("emulate the link: %w", err)
	}
	h.report.Network = h.tn.describe()
	h.report.Link, h.report.NcsyncBandwidth = o.Link, o.NcsyncBandwidthRate
	if d := h.tn.describeLink(); d != "" {
		h.logf("%s", d)
		h.report.Notes = append(h.report.Notes, d)
	}
	if o.NcsyncBandwidth != "" {
		h.report.Notes = append(h.report.Notes, "ncsync's primary runs with limits: {bandwidth: "+o.NcsyncBandwidth+"} (chunk data to all secondaries together)")
	}
	h.report.Notes = append(h.report.Notes,
		h.tn.describe(),
		"wall: from the start of the tool (rsync client; both daemons of the others) until the target is complete; ncsync's initial copy ends at the first status poll (the secondary every 50 ms, then the primary to confirm) that shows the secondary caught up and after which the trees compare equal; lsyncd's and Syncthing's, and every mutation scenario, end when the harness's polling (touched paths every 5 ms, then a walk of the target) first sees the target equal, confirmed by a content compare",
		"CPU and peak RSS: both sides' processes (rsync client + daemon and its children; lsyncd and the rsync processes it runs + the rsync daemon; ncsync primary + secondary; both Syncthing instances); the harness's proxy and polling are not counted",
		"source trees are in the page cache; rsync, lsyncd and Syncthing's defaults fsync little or nothing, ncsync makes every file durable before acknowledging it; each run writes a fresh target on the same file system, and targets are removed only at the end (ext4 creates files slowly for a while after many were deleted)")
	if dropCaches() {
		h.logf("%s", droppedNote)
		h.report.Notes = append(h.report.Notes, droppedNote)
	}
	if slices.ContainsFunc(o.Tools, func(t string) bool { return t == ToolRsync || t == ToolLsyncd || t == ToolLsyncd1s }) {
		if p, err := findRsync(); err != nil {
			h.rsErr = err
		} else {
			h.rsync = rsyncRun{rsync: p, timeout: o.Timeout, tn: h.tn}
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
		h.ncsync = ncsyncRun{bin: o.Binary, pki: pki, sockDir: sockDir, scanInterval: o.ScanInterval, timeout: o.Timeout, progress: h.logf, tn: h.tn, profileDir: o.ProfileDir, bandwidth: o.NcsyncBandwidth}
	}
	h.findTools()
	h.peerVersions()
	defer h.emptyTrash()
	steps := []struct {
		on  bool
		run func(context.Context) error
	}{
		{slices.Contains(o.Scenarios, ScenarioInitial), h.initialScenario},
		{true, h.suiteScenarios},
		{slices.Contains(o.Scenarios, ScenarioIdle), h.idleScenario},
		{slices.Contains(o.Scenarios, ScenarioSecondaries), h.secondariesScenario},
		{slices.Contains(o.Scenarios, ScenarioMillion), h.millionScenario},
	}
	for _, s := range steps {
		if !s.on {
			continue
		}
		if err := s.run(ctx); err != nil {
			return h.report, err
		}
	}
	return h.report, nil
}

// dropCaches writes the file systems' dirty data out and drops the page
// cache, when running as root, and says so. ext4 skips inodes freed in
// the last hours while their inode-table blocks are cached, which makes
// creating files many times slower after earlier runs removed their
// targets (measured here: 10,000 creates in 1.26 s before, 0.24 s after);
// without the drop a run's speed would depend on what ran before it.
// Source trees are read back into the cache before they are used (warm).
// It reports whether it dropped the cache.
func dropCaches() bool {
	if os.Geteuid() != 0 {
		return false
	}
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0) == nil
}

// droppedNote is the report's note when dropCaches works.
const droppedNote = "page cache dropped at the start and before every initial copy (sync; echo 1 > /proc/sys/vm/drop_caches), then the source tree read back in: files freed by earlier runs no longer slow down ext4's inode allocation, and every copy starts with the same page cache"

// warm reads every file under dir, so the source tree is in the page
// cache for every tool alike.
func warm(dir string) error {
	buf := make([]byte, 1<<20)
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			if _, err := f.Read(buf); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
		}
	})
}

// loadAvg is the first three fields of /proc/loadavg, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
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
		if json.Unmarshal(b, &m) == nil && m.Spec == spec.Name && m.Seed == h.o.Seed && m.Version == generatorVersion {
			h.logf("reusing %s tree %q", spec.Name, base)
			return base, m, warm(base)
		}
	}
	os.RemoveAll(base)
	os.Remove(mpath)
	h.logf("generating %s tree (about %s) in %q", spec.Name, report.HumanBytes(spec.ApproxBytes()), base)
	start := time.Now()
	m, err := GenerateTree(base, spec, h.o.Seed)
	if err != nil {
		return "", m, err
	}
	text, bin := m.Bytes()
	h.logf("generated %d files in %d dirs, %s text + %s binary in %s", len(m.Files), m.Dirs,
		report.HumanBytes(text), report.HumanBytes(bin), time.Since(start).Round(time.Millisecond))
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
