package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/bench"
)

type benchOptions struct {
	Quick         bool
	Scenarios     []string
	Tools         []string
	Workloads     []string
	Runs          int
	SuiteRuns     int
	BurstFiles    int
	LatencyWrites int
	NoNetns       bool
	ProfileDir    string
	// Rate and RTT emulate a link ("100Mbit", 50ms); Bandwidth is the
	// ncsync primary's limits.bandwidth ("10MB/s").
	Rate      string
	RTT       time.Duration
	Bandwidth string
	// Secondaries are the fan-outs of the secondaries scenario.
	Secondaries  []int
	MillionFiles int
	// ToolsSet says --tools was given (else --quick picks its own).
	ToolsSet     bool
	JSON         string
	Markdown     string
	Dir          string
	Keep         bool
	Seed         uint64
	IdleFor      time.Duration
	Timeout      time.Duration
	ScanInterval time.Duration
	// Command is the command line, for the report.
	Command string
	// Binary is the ncsync executable the daemons run (default: this one).
	Binary string
	// Progress receives progress lines (stderr from the command line).
	Progress io.Writer
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench [--quick] [--scenario S,...] [--tools T,...] [--runs N] [--json FILE] [--dir DIR] [--keep]",
		Short: "Measure ncsync side by side with rsync, lsyncd and Syncthing on generated Nextcloud-like trees",
		Long: `Generate deterministic Nextcloud-shaped workloads and measure real processes on
this machine, every tool in the same run on the same data.

Workloads (same seed, same trees):
  webroot  ~20,000 PHP/JS/CSS/JSON-like text files (log-normal around 4 KiB,
           60 of them 64 KiB–1 MiB, ~4x zstd ratio) in 2,000 directories
  data     3 users: photos 1–8 MiB, 2 videos 256 MiB–1 GiB, office documents,
           3,000 tiny notes (~1.2 GiB)

Scenarios:
  initial  copy webroot and data (each its own run) into an empty target
  upgrade  small edits in ~25% of the webroot, 1.5% added and 1.5% deleted,
           one directory renamed
  bigedit  4 KiB overwritten inside a 256 MiB file
  insert   4 KiB inserted at the front of that file
  burst    10,000 new small files, written like an untar
  rename   a directory holding 1–10% of the webroot renamed
  latency  single 1 KiB files, each from its write until whole on the target
           (median and max over --latency-writes)
  barrier  ncsync only: another upgrade, then 'ncsync barrier'; the time from
           the upgrade's start until the barrier returns
  idle     ncsync only, when named: 100,000 tiny files; CPU and memory at rest
  secondaries
           ncsync only, when named: the webroot from one primary to each
           number of secondaries in --secondaries (1,4,8) at once, each in
           its own network namespace when root; the primary's CPU and RSS
  million  ncsync only, when named: 1,000,000 files of 100–500 B in 10,000
           directories (--million-files); initial scan rate, memory and
           index size at rest, a barrier on the idle tree, and a restart of
           the primary until it watches again (its stat walk; re-hashed)
The mutation scenarios run one after the other in one suite per tool,
after the tool's own initial copy of the webroot plus the 256 MiB file.
lsyncd and Syncthing with their default delays wait 10–15 s per change by
design: their latency scenario makes at most 5 writes. The delay does not
change how they make an initial copy: the initial scenario runs lsyncd-1s
and syncthing-1s only when the default variant is not selected.

Tools (those not installed are skipped with a note; install them with
tools/install-bench-peers.sh):
  ncsync        'ncsync run' primary and secondary, mutual TLS
  rsync         'rsync -a --delete' to an rsync daemon, run after each
                mutation: the floor of any rsync-based tool
  lsyncd        default.rsync to the rsync daemon, default delay (15 s);
  lsyncd-1s     and delay = 1
  syncthing     send-only folder to receive-only folder, default watcher
  syncthing-1s  delay (10 s) and fsWatcherDelayS = 1

Measured, per scenario and tool: wall seconds until the target is verified
equal (content, mode, mtime in ns of every entry), bytes on the wire, CPU
seconds of both sides' processes, peak RSS of both sides; for upgrade and
burst also the seconds from the mutation's last write until equal, beside
an rsync daemon run started at that moment (target: at most half of it).
Running as root, the receiving side runs in a network namespace of its own
behind a veth pair and bytes on the wire are the veth's counters; otherwise
(or with --no-netns) it is loopback and a counting proxy counts TCP payload.

Output: progress on stderr; on stdout a table per scenario, ncsync's figure
with its ratio to each peer, and ncsync's targets met or missed. The
command fails if an ncsync secondary ends unequal to its primary.
--quick (about a minute) uses small trees and, unless --tools is given,
only the fast tools; the full run takes about 15 minutes on 2 cores.

Link emulation: --rate (tc tbf on the veth pair when the receiving side
has a network namespace, else a token bucket in the counting proxies) and
--rtt (a delay in the proxies) apply to every tool; ncsync's initial copies
are also made unshaped, and the report checks that the shaped copy fills
the link (wall ≤ 1.05 × bytes toward the target ÷ rate) without spending
CPU waiting (≤ 1.2 × the unshaped copy's). --ncsync-bandwidth sets the
primary's limits.bandwidth and checks the rate on the wire against it.

Reproduce the README's table (as root, peers installed):
  tools/install-bench-peers.sh
  go build -o /tmp/ncsync ./cmd/ncsync && /tmp/ncsync bench --json bench.json --markdown bench.md`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Progress = c.ErrOrStderr()
			o.ToolsSet = c.Flags().Changed("tools")
			o.Command = "ncsync " + strings.Join(os.Args[1:], " ")
			return runBench(c.Context(), o, c.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Quick, "quick", false, "small workloads for CI (about a minute): 2,000-file webroot, ~50 MiB data, 1,000-file burst, 5 latency writes, 10,000 files and 10 s for idle, 1 run; tools rsync, ncsync, lsyncd-1s, syncthing-1s unless --tools says otherwise")
	f.StringSliceVar(&o.Scenarios, "scenario", bench.DefaultScenarios, "scenarios to run (comma-separated): "+strings.Join(append(slices.Clone(bench.AllScenarios), bench.ScaleScenarios...), ", "))
	f.IntVar(&o.MillionFiles, "million-files", 0, "files in the million scenario's tree, in one directory per 100 (default 1,000,000 in 10,000)")
	f.IntSliceVar(&o.Secondaries, "secondaries", bench.DefaultSecondaries, "numbers of secondaries the secondaries scenario copies the webroot to at once, each in its own network namespace when root")
	f.StringSliceVar(&o.Tools, "tools", bench.AllTools, "tools to compare (comma-separated; those not installed are skipped): "+strings.Join(bench.AllTools, ", "))
	f.StringSliceVar(&o.Workloads, "workload", []string{bench.WorkloadWebroot, bench.WorkloadData}, "workloads of the initial scenario: webroot, data, mix (both in one tree)")
	f.IntVar(&o.Runs, "runs", 0, "repetitions of each initial copy, Syncthing's excepted (once: each takes many times rsync's); the table shows medians (default 3, or 1 with --quick)")
	f.IntVar(&o.SuiteRuns, "suite-runs", 1, "repetitions of each tool's mutation suite (upgrade … latency, barrier)")
	f.IntVar(&o.BurstFiles, "burst-files", 0, "files the burst scenario creates (default 10,000, or 1,000 with --quick)")
	f.IntVar(&o.LatencyWrites, "latency-writes", 0, "single-file writes of the latency scenario (default 10, or 5 with --quick)")
	f.BoolVar(&o.NoNetns, "no-netns", false, "keep the receiving side on loopback even when running as root (default: its own network namespace when root)")
	f.StringVar(&o.Rate, "rate", "", "emulate a link of this rate each way (\"100Mbit\", \"10MB/s\"): tc tbf on the veth pair when the receiving side has a network namespace, else a token bucket in the counting proxies; ncsync's initial copies are also made unshaped, as the baseline of its CPU target")
	f.DurationVar(&o.RTT, "rtt", 0, "emulate a link with this round-trip time (a delay in the counting proxies, half each way)")
	f.StringVar(&o.Bandwidth, "ncsync-bandwidth", "", "write limits: {bandwidth: RATE} (\"10MB/s\") into the ncsync primary's config and check the initial copies run at that rate on the wire")
	f.StringVar(&o.ProfileDir, "profile", "", "write a CPU profile of every ncsync daemon into DIR (<run>-<node>.pprof, <run>-<node>-2.pprof after a restart) and its heap profile at its largest live heap (<run>-<node>.heap.pprof); read them with go tool pprof")
	f.StringVar(&o.Markdown, "markdown", "", "also write the medians, ratios and targets as a Markdown table (the README's) to FILE")
	f.StringVar(&o.JSON, "json", "", "also write every run's numbers and the medians as JSON to FILE")
	f.StringVar(&o.Dir, "dir", "", "work directory; generated trees stay there and are reused by later runs with the same workload and seed (default: a temporary directory, removed at the end)")
	f.BoolVar(&o.Keep, "keep", false, "keep the work directory and every run's target, configs and daemon logs")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the generated trees")
	f.DurationVar(&o.IdleFor, "idle-for", 0, "how long the idle scenario watches the daemons at rest (default 30s, or 10s with --quick)")
	f.DurationVar(&o.Timeout, "timeout", 15*time.Minute, "give up on one run if the target is not equal after this long")
	f.DurationVar(&o.ScanInterval, "scan-interval", 0, "scan_interval for both daemons (default: the daemon's own default)")
	return cmd
}

func runBench(ctx context.Context, o benchOptions, out io.Writer) error {
	if o.Runs < 0 || o.SuiteRuns < 0 {
		return usageError("--runs %d, --suite-runs %d: must be at least 1", o.Runs, o.SuiteRuns)
	}
	for _, s := range o.Scenarios {
		if o.Quick && slices.Contains(bench.ScaleScenarios, s) {
			return usageError("--quick does not run the %s scenario: it measures scale", s)
		}
	}
	var link bench.Link
	if o.Rate != "" {
		r, err := bench.ParseRate(o.Rate)
		if err != nil || r == 0 {
			return usageError("--rate %q: want a rate above 0, such as \"100Mbit\" or \"10MB/s\"", o.Rate)
		}
		link.Rate = r
	}
	if o.RTT < 0 {
		return usageError("--rtt %s: must not be negative", o.RTT)
	}
	link.RTT = o.RTT
	var bandwidth int64
	if o.Bandwidth != "" {
		var err error
		if bandwidth, err = bench.ParseRate(o.Bandwidth); err != nil || bandwidth == 0 {
			return usageError("--ncsync-bandwidth %q: want bytes per second above 0, such as \"10MB/s\"", o.Bandwidth)
		}
	}
	bo := bench.Options{
		Binary: o.Binary, Scenarios: o.Scenarios, Tools: o.Tools, Workloads: o.Workloads, Runs: o.Runs, Seed: o.Seed,
		SuiteRuns: o.SuiteRuns, BurstFiles: o.BurstFiles, LatencyWrites: o.LatencyWrites, NoNetns: o.NoNetns, ProfileDir: o.ProfileDir,
		Link: link, NcsyncBandwidthRate: bandwidth, Secondaries: o.Secondaries, MillionFiles: o.MillionFiles,
		IdleWindow: o.IdleFor, Timeout: o.Timeout, ScanInterval: o.ScanInterval, KeepRuns: o.Keep,
		Spec: bench.Nextcloud, SuiteSpec: bench.Suite, IdleSpec: bench.Idle100k, Progress: o.Progress,
	}
	if bandwidth > 0 {
		bo.NcsyncBandwidth = strconv.FormatInt(bandwidth, 10) // bytes/s, whatever unit was given
	}
	if len(bo.Tools) == 0 {
		bo.Tools = bench.AllTools
	}
	if len(bo.Scenarios) == 0 {
		bo.Scenarios = bench.DefaultScenarios
	}
	if o.Quick {
		bo.Spec, bo.SuiteSpec, bo.IdleSpec = bench.NextcloudQuick, bench.SuiteQuick, bench.IdleQuick
		if bo.IdleWindow == 0 {
			bo.IdleWindow = 10 * time.Second
		}
		if bo.BurstFiles == 0 {
			bo.BurstFiles = 1000
		}
		if bo.LatencyWrites == 0 {
			bo.LatencyWrites = 5
		}
		if !o.ToolsSet {
			// The default-delay peers need 10–15 s per change by design:
			// too slow for a one-minute run.
			bo.Tools = []string{bench.ToolNcsync, bench.ToolRsync, bench.ToolLsyncd1s, bench.ToolSyncthing1s}
		}
	}
	if bo.Runs == 0 {
		bo.Runs = 3
		if o.Quick {
			bo.Runs = 1
		}
	}
	if bo.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the ncsync binary: %w", err)
		}
		bo.Binary = exe
	}
	bo.Dir = o.Dir
	if bo.Dir == "" {
		d, err := os.MkdirTemp("", "ncsync-bench-")
		if err != nil {
			return err
		}
		if !o.Keep {
			defer os.RemoveAll(d)
		}
		bo.Dir = d
	} else if err := os.MkdirAll(bo.Dir, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	dir, err := filepath.Abs(bo.Dir)
	if err != nil {
		return err
	}
	bo.Dir = dir
	if bo.ProfileDir != "" {
		if bo.ProfileDir, err = filepath.Abs(bo.ProfileDir); err == nil {
			err = os.MkdirAll(bo.ProfileDir, 0o755)
		}
		if err != nil {
			return fmt.Errorf("--profile: %w", err)
		}
	}
	if err := bo.Validate(); err != nil {
		return usageError("%v", err)
	}
	if o.Keep && o.Progress != nil {
		fmt.Fprintf(o.Progress, "work directory (kept): %s\n", bo.Dir)
	}
	rep, err := bench.Run(ctx, bo)
	if rep != nil {
		rep.Command = o.Command
		rep.Checks = rep.Targets()
		rep.WriteTable(out)
		if o.JSON != "" {
			if jerr := writeBenchJSON(o.JSON, rep); jerr != nil {
				err = errors.Join(err, jerr)
			}
		}
		if o.Markdown != "" {
			var b bytes.Buffer
			rep.WriteMarkdown(&b)
			if merr := os.WriteFile(o.Markdown, b.Bytes(), 0o644); merr != nil {
				err = errors.Join(err, fmt.Errorf("--markdown: %w", merr))
			}
		}
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return &exitError{code: exitFailure, err: errors.New("an ncsync secondary did not end equal to its primary (see failures above)")}
	}
	return nil
}

func writeBenchJSON(path string, rep *bench.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
