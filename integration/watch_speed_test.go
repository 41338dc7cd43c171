package integration

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkWatchUntar untars a release-like tree (20,000 files of 4 KiB,
// 80 MiB, in 200 directories) into the watched tree of a running pair
// with default settings, and measures the time from the start of the
// untar until the secondary holds the same tree (every path, mode, mtime
// and content, compared with compareTrees). Its baseline, measured in the
// same iteration, is `rsync -a` copying the same tree (already extracted,
// page cache warm) into an empty directory of the same file system:
// the target is ncsync within 2× of that. Each iteration untars into a new
// directory, then removes it (and waits until the secondary has too).
//
//	go test -run '^$' -bench WatchUntar -benchtime 3x -timeout 30m ./integration/
func BenchmarkWatchUntar(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark with real daemons; skipped with -short")
	}
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		b.Skip("rsync is the baseline and is not installed: run tools/install-test-deps.sh")
	}
	const (
		dirs, perDir = 200, 100
		size         = 4 * kiB
	)
	work := b.TempDir()
	src := filepath.Join(work, "src")
	for d := range dirs {
		for f := range perDir {
			rel := fmt.Sprintf("app%02d/lib%d/f%03d.php", d/10, d%10, f)
			path := filepath.Join(src, rel)
			mustOK(b, os.MkdirAll(filepath.Dir(path), 0o755))
			mustOK(b, os.WriteFile(path, randBytes(uint64(d*perDir+f), size), 0o644))
		}
	}
	tarball := filepath.Join(work, "release.tar")
	run(b, "tar", "-cf", tarball, "-C", src, ".")

	pair := startBenchPair(b)
	var ratios, ncsync, baseline, untar []time.Duration
	ratio := func(a, c time.Duration) time.Duration { return time.Duration(float64(a) / float64(c) * 1000) }
	for i := 0; b.Loop(); i++ {
		// Baseline: rsync alone into an empty target.
		dst := filepath.Join(work, fmt.Sprintf("rsync%d", i))
		t0 := time.Now()
		run(b, rsync, "-a", src+"/", dst+"/")
		base := time.Since(t0)
		mustOK(b, os.RemoveAll(dst))

		// ncsync: untar into the watched tree, wait for the secondary.
		rel := fmt.Sprintf("bench/untar%d", i)
		p, s := filepath.Join(pair.primary, rel), filepath.Join(pair.secondary, rel)
		cpu0 := map[string]time.Duration{}
		for name, pid := range pair.pid {
			cpu0[name] = cpuTime(b, pid)
		}
		t0 = time.Now()
		mustOK(b, os.Mkdir(p, 0o755))
		run(b, "tar", "-xf", tarball, "-C", p)
		tarTook := time.Since(t0)
		took := waitTreeCopied(b, p, s, t0, 5*time.Minute)

		b.Logf("iteration %d: rsync -a %s; untar %s, secondary consistent %s after the untar began (%.2f× rsync); CPU used: primary %s, secondary %s",
			i, base.Round(time.Millisecond), tarTook.Round(time.Millisecond), took.Round(time.Millisecond), float64(took)/float64(base),
			cpuTime(b, pair.pid[primaryName])-cpu0[primaryName], cpuTime(b, pair.pid["nfs2"])-cpu0["nfs2"])
		baseline, ncsync, untar = append(baseline, base), append(ncsync, took), append(untar, tarTook)
		ratios = append(ratios, ratio(took, base))

		mustOK(b, os.RemoveAll(p))
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := os.Lstat(s); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("the secondary still has %s a minute after the primary removed it", rel)
			}
			time.Sleep(pollEvery)
		}
	}
	med := func(l []time.Duration) time.Duration {
		l = slices.Clone(l)
		slices.Sort(l)
		return l[len(l)/2]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(med(baseline)), "ms-rsync-median")
	b.ReportMetric(ms(med(untar)), "ms-untar-median")
	b.ReportMetric(ms(med(ncsync)), "ms-ncsync-median")
	b.ReportMetric(ms(slices.Max(ncsync)), "ms-ncsync-max")
	b.ReportMetric(float64(med(ratios))/1000, "x-rsync-median")
	b.ReportMetric(float64(slices.Max(ratios))/1000, "x-rsync-max")
}

// waitTreeCopied polls until the secondary's tree s equals the primary's
// tree p and returns how long after start that was. A cheap check (every
// path there with the primary's type, size and mtime: the secondary
// renames each file into place whole, its mtime set) dates the moment;
// compareTrees (contents included) then confirms it, or polling goes on.
func waitTreeCopied(b *testing.B, p, s string, start time.Time, timeout time.Duration) time.Duration {
	b.Helper()
	want, err := scanTree(p)
	mustOK(b, err)
	deadline := start.Add(timeout)
	for {
		got, err := scanTree(s)
		at := time.Since(start)
		if err == nil && len(got) == len(want) {
			same := true
			for rel, x := range want {
				y, ok := got[rel]
				if !ok || x.kind() != y.kind() || x.size != y.size || x.mtime != y.mtime {
					same = false
					break
				}
			}
			if same {
				diffs := compareTrees(b, p, s, nil)
				if len(diffs) == 0 {
					return at
				}
				b.Logf("sizes and mtimes equal after %s, but %d differences: %s", at.Round(time.Millisecond), len(diffs), strings.Join(limit(diffs, 5), "; "))
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the secondary's %s does not equal the primary's %s after %s: it has %d of %d paths (%v)", s, p, timeout, len(got), len(want), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs a command and fails the benchmark if it fails.
func run(b *testing.B, name string, args ...string) {
	b.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

var idleFor = flag.Duration("watch.idle", time.Minute, "how long BenchmarkWatchIdleCPU watches the daemons at rest")

// BenchmarkWatchIdleCPU starts a pair with default settings on a tree of
// 100,000 files (1,000 directories of 100 small files), waits until it is
// in sync and has settled (the start-up scan and the re-reads of files
// written within the scanner's racy window are done), then reads each
// daemon's CPU time (utime+stime, /proc/PID/stat) over -watch.idle (a
// minute) of nothing changing. The target is the primary under 1% of a
// core. It measures once, whatever b.N:
//
//	go test -run '^$' -bench WatchIdleCPU -benchtime 1x -timeout 30m ./integration/
func BenchmarkWatchIdleCPU(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark with real daemons; skipped with -short")
	}
	const dirs, perDir = 1000, 100
	pair := startBenchPairWith(b, benchPairOptions{
		populate: func(tree string) {
			for d := range dirs {
				dir := filepath.Join(tree, fmt.Sprintf("u%02d/files/d%03d", d/100, d%100))
				mustOK(b, os.MkdirAll(dir, 0o755))
				for f := range perDir {
					data := fmt.Appendf(nil, "file %d of directory %d\n", f, d)
					mustOK(b, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.txt", f)), data, 0o644))
				}
			}
		},
		syncTimeout: 10 * time.Minute,
	})
	st, err := benchStatus(pair.socket)
	mustOK(b, err)
	if w := st.Folders[0].Watched; w < dirs {
		b.Fatalf("the primary watches %d directories, want at least %d", w, dirs)
	}
	// Settle: past the racy window's re-reads and any backlog.
	time.Sleep(5 * time.Second)

	b.ResetTimer()
	for range b.N {
		before := map[string]time.Duration{}
		for name, pid := range pair.pid {
			before[name] = cpuTime(b, pid)
		}
		t0 := time.Now()
		time.Sleep(*idleFor)
		wall := time.Since(t0)
		for name, pid := range pair.pid {
			used := cpuTime(b, pid) - before[name]
			pct := 100 * float64(used) / float64(wall)
			b.Logf("%s used %s of CPU in %s idle: %.3f%% of a core", name, used, wall.Round(time.Millisecond), pct)
			b.ReportMetric(pct, "cpu%-"+name)
		}
	}
	b.StopTimer()
	st, err = benchStatus(pair.socket)
	mustOK(b, err)
	b.Logf("primary folder status after the idle period: %+v", st.Folders[0])
}

// cpuTime is a process's user plus system CPU time from /proc/PID/stat.
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	mustOK(b, err)
	// Fields after the command name (in parentheses, which may hold
	// spaces): state is field 3, utime 14 and stime 15.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: too few fields: %q", pid, s)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is sysconf(_SC_CLK_TCK), 100 on Linux for every architecture
// Go supports.
const clockTicks = 100
