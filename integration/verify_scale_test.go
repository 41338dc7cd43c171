package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestVerifyScale measures `ncsync verify` on trees of many small files:
// the peak resident memory of both daemons during the verify against
// their memory just before it, at each size, and the verify's time
// against a baseline of reading the primary's tree with tar in the same
// run (medians of 3). Set NCSYNC_VERIFY_SCALE to the sizes, e.g.
// "20000,200000"; it is skipped otherwise (it writes the files on disk).
//
//	NCSYNC_VERIFY_SCALE=20000,200000 go test -count=1 -v -run TestVerifyScale -timeout 60m ./integration
func TestVerifyScale(t *testing.T) {
	env := os.Getenv("NCSYNC_VERIFY_SCALE")
	if env == "" {
		t.Skip("set NCSYNC_VERIFY_SCALE=20000,200000 to run")
	}
	type row struct {
		files                 int
		before, peakP, peakS  [2]uint64 // KiB: primary, secondary
		verify, tar           time.Duration
		compared, differences uint64
	}
	var rows []row
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			t.Fatalf("NCSYNC_VERIFY_SCALE: bad size %q", f)
		}
		r := row{files: n}
		c := newCluster(t, clusterOptions{scanInterval: time.Hour, extraConfig: noRepair})
		prim, sec := c.tree(primaryName, "data"), c.tree("nfs2", "data")
		start := time.Now()
		makeSmallFiles(t, prim, n)
		if out, err := exec.Command("cp", "-a", prim+"/.", sec).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
		t.Logf("%d files written and copied in %s", n, time.Since(start).Round(time.Second))
		c.start(primaryName)
		c.start("nfs2")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		waitFor(t, 30*time.Minute, func() string { return "initial replication" }, func() bool {
			st, err := c.status(primaryName)
			if err != nil {
				return false
			}
			ok, _ := acked(st, []string{"nfs2"})
			return ok
		})
		cancel()
		_ = ctx
		t.Logf("%d files replicated after %s", n, time.Since(start).Round(time.Second))
		pids := [2]int{c.pidOf(primaryName), c.pidOf("nfs2")}
		var verifies, tars []time.Duration
		for i := range 3 {
			before := [2]uint64{rssKiB(pids[0]), rssKiB(pids[1])}
			stop := make(chan struct{})
			var peak [2]uint64
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					for j := range pids {
						peak[j] = max(peak[j], rssKiB(pids[j]))
					}
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}()
			t0 := time.Now()
			lines, errOut, code := c.runVerifyFor(30*time.Minute, "--peer", "nfs2")
			verifies = append(verifies, time.Since(t0))
			close(stop)
			wg.Wait()
			if code != 0 {
				t.Fatalf("verify of %d equal files: exit %d\n%+v\n%s", n, code, limitLines(lines), errOut)
			}
			last := lines[len(lines)-1]
			r.compared, r.differences = last.Compared, last.Differences
			if i == 0 {
				r.before, r.peakP, r.peakS = before, [2]uint64{peak[0], 0}, [2]uint64{peak[1], 0}
			}
			r.peakP[0], r.peakS[0] = max(r.peakP[0], peak[0]), max(r.peakS[0], peak[1])
			t0 = time.Now()
			cmd := exec.Command("sh", "-c", "tar cf - -C \"$1\" . | cat >/dev/null", "sh", prim)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("tar: %v: %s", err, out)
			}
			tars = append(tars, time.Since(t0))
		}
		r.verify, r.tar = median(verifies), median(tars)
		rows = append(rows, r)
		c.stop("nfs2")
		c.stop(primaryName)
	}
	t.Logf("%9s %10s %14s %14s %12s %12s %8s", "files", "compared", "primary KiB", "secondary KiB", "verify", "tar primary", "ratio")
	for _, r := range rows {
		t.Logf("%9d %10d %6d→%-7d %6d→%-7d %12s %12s %8.2f", r.files, r.compared, r.before[0], r.peakP[0], r.before[1], r.peakS[0],
			r.verify.Round(time.Millisecond), r.tar.Round(time.Millisecond), float64(r.verify)/float64(r.tar))
	}
	if len(rows) >= 2 {
		a, b := rows[0], rows[len(rows)-1]
		growP := (float64(b.peakP[0]-b.before[0]) - float64(a.peakP[0]-a.before[0])) * 1024 / float64(b.files-a.files)
		growS := (float64(b.peakS[0]-b.before[1]) - float64(a.peakS[0]-a.before[1])) * 1024 / float64(b.files-a.files)
		t.Logf("memory added by the verify, per extra file from %d to %d files: primary %.1f bytes, secondary %.1f bytes",
			a.files, b.files, growP, growS)
	}
}

// runVerifyFor is runVerify with a longer bound.
func (c *cluster) runVerifyFor(d time.Duration, args ...string) ([]verifyLine, string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.runVerifyCtx(ctx, args...)
}

func limitLines(lines []verifyLine) []verifyLine {
	if len(lines) > 20 {
		return lines[:20]
	}
	return lines
}

// makeSmallFiles writes n files of 100 to 4,000 bytes, 1,000 per
// directory.
func makeSmallFiles(t *testing.T, root string, n int) {
	t.Helper()
	buf := []byte(strings.Repeat("0123456789abcdef", 256))
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("d%04d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		size := 100 + (i*7919)%3900
		copy(buf, strconv.Itoa(i))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%06d", i)), buf[:size], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// rssKiB is a process's resident memory (VmRSS) in KiB, 0 if unknown.
func rssKiB(pid int) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
