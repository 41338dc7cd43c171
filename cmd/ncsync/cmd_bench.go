package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/bench"
)

type benchOptions struct {
	Quick        bool
	Scenarios    []string
	Tools        []string
	Workloads    []string
	Runs         int
	JSON         string
	Dir          string
	Keep         bool
	Seed         uint64
	IdleFor      time.Duration
	Timeout      time.Duration
	ScanInterval time.Duration
	// Binary is the ncsync executable the daemons run (default: this one).
	Binary string
	// Progress receives progress lines (stderr from the command line).
	Progress io.Writer
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench [--quick] [--scenario initial,idle] [--runs N] [--json FILE] [--dir DIR] [--keep]",
		Short: "Measure ncsync against rsync on a generated Nextcloud-like tree",
		Long: `Generate a deterministic workload and measure real processes on this machine.

Scenarios:
  initial  copy a tree into an empty target, with rsync and with ncsync, in
           the same run: the whole tree ("mix": ~20,000 PHP/JS/CSS/JSON-like
           text files in ~2,000 directories plus 6 random files of 128 MiB,
           about 1 GiB) and, separately, its text part alone ("text").
           rsync: 'rsync -a --delete SRC/ rsync://...' to an rsync daemon the
           harness starts. ncsync: a fresh primary and secondary ('ncsync
           run'), measured from their start until the primary reports the
           secondary caught up and the two trees compare equal.
  idle     ncsync only: 100,000 tiny files in 5,000 directories; once the
           secondary is consistent, the daemons' CPU (% of one core) and
           resident memory over 30 s at rest.

Measured per run, then the median of --runs runs is shown:
  wall s        start of the tool until the target is verified equal
  on the wire   TCP payload in both directions, counted by a proxy in the
                harness that each tool's connection goes through on loopback
                (127.0.0.1), so TLS and protocol framing count, IP headers not
  CPU s         user + system seconds of both sides' processes
  peak RSS      peak resident memory of both sides' processes (VmHWM)
  ratios        ncsync ÷ rsync, from the same run
Every target is compared with its source (content, mode and mtime in ns of
every entry); the command fails if an ncsync secondary ends unequal.

Progress goes to stderr, the table to stdout. rsync comes from the
distribution (tools/install-test-deps.sh); without it rsync is skipped.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Progress = c.ErrOrStderr()
			return runBench(c.Context(), o, c.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Quick, "quick", false, "small workloads for CI: ~50 MiB initial tree, 10,000 files and 10 s for idle, 1 run")
	f.StringSliceVar(&o.Scenarios, "scenario", []string{bench.ScenarioInitial, bench.ScenarioIdle}, "scenarios to run: initial, idle (comma-separated)")
	f.StringSliceVar(&o.Tools, "tools", []string{bench.ToolRsync, bench.ToolNcsync}, "tools for the initial scenario: rsync, ncsync")
	f.StringSliceVar(&o.Workloads, "workload", []string{bench.WorkloadMix, bench.WorkloadText}, "workloads of the initial scenario: mix (the whole tree), text (its text part alone)")
	f.IntVar(&o.Runs, "runs", 0, "repetitions of each measurement; the table shows medians (default 3, or 1 with --quick)")
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
	if o.Runs < 0 {
		return usageError("--runs %d: must be at least 1", o.Runs)
	}
	bo := bench.Options{
		Binary: o.Binary, Scenarios: o.Scenarios, Tools: o.Tools, Workloads: o.Workloads, Runs: o.Runs, Seed: o.Seed,
		IdleWindow: o.IdleFor, Timeout: o.Timeout, ScanInterval: o.ScanInterval, KeepRuns: o.Keep,
		Spec: bench.Mix1GiB, IdleSpec: bench.Idle100k, Progress: o.Progress,
	}
	if o.Quick {
		bo.Spec, bo.IdleSpec = bench.Quick, bench.IdleQuick
		if bo.IdleWindow == 0 {
			bo.IdleWindow = 10 * time.Second
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
	if err := bo.Validate(); err != nil {
		return usageError("%v", err)
	}
	if o.Keep && o.Progress != nil {
		fmt.Fprintf(o.Progress, "work directory (kept): %s\n", bo.Dir)
	}
	rep, err := bench.Run(ctx, bo)
	if rep != nil {
		rep.WriteTable(out)
		if o.JSON != "" {
			if jerr := writeBenchJSON(o.JSON, rep); jerr != nil {
				err = errors.Join(err, jerr)
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
