package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// rsyncRun copies with `rsync -a --delete` to an rsync daemon the harness
// starts, through the counting proxy.
type rsyncRun struct {
	rsync   string // the rsync binary
	timeout time.Duration
	tn      *targetNet // where the daemon runs
}

// findRsync returns the rsync binary, or an error saying how to get it.
func findRsync() (string, error) {
	p, err := exec.LookPath("rsync")
	if err != nil {
		return "", fmt.Errorf("rsync not found (install it: tools/install-test-deps.sh)")
	}
	return p, nil
}

// initial copies src into the empty dir/target and measures it.
func (r rsyncRun) initial(ctx context.Context, src, dir string) (Sample, error) {
	dst := filepath.Join(dir, "target")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return Sample{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	d, err := startRsyncDaemon(ctx, r.rsync, dir, dst, r.tn)
	if err != nil {
		return Sample{}, err
	}
	// Stopping the daemon gives its usage, which includes the reaped
	// per-connection children.
	daemonUsage := func() usage {
		d.stop()
		return usageOf(d.cmd.ProcessState)
	}
	meter := wireMeter{tn: r.tn, proxy: d.proxy.Bytes}
	w0t, w0s := meter.read()
	client := exec.CommandContext(ctx, r.rsync, "-a", "--delete", "--stats", src+"/", d.url())
	var out bytes.Buffer
	client.Stdout, client.Stderr = &out, &out
	start := time.Now()
	if err := client.Start(); err != nil {
		daemonUsage()
		return Sample{}, fmt.Errorf("start rsync: %w", err)
	}
	peaks := trackPeaks(20*time.Millisecond, client.Process.Pid, d.cmd.Process.Pid)
	err = client.Wait()
	wall := time.Since(start)
	peak := peaks.Stop()
	if err != nil {
		daemonUsage()
		return Sample{}, fmt.Errorf("rsync: %w: %s", err, lastLines(out.String(), 5))
	}
	w1t, w1s := meter.read()
	// The daemon's connection child exits after the client: wait until the
	// daemon has reaped it, so its CPU is in the daemon's accounting.
	d.settle()
	du := daemonUsage()
	cu := usageOf(client.ProcessState)
	s := Sample{
		Wall:         wall.Seconds(),
		WireToTarget: w1t - w0t, WireToSource: w1s - w0s,
		ToolBytes: statsBytes(out.String()),
		CPUSource: cu.CPU.Seconds(), CPUTarget: du.CPU.Seconds(),
		PeakRSSSource: peak[0], PeakRSSTarget: peak[1],
	}
	diffs, err := CompareTrees(src, dst, true, 5)
	if err != nil {
		return s, err
	}
	s.Equal = len(diffs) == 0
	if !s.Equal {
		s.Error = "target differs: " + strings.Join(diffs, "; ")
	}
	return s, nil
}

var statsLine = regexp.MustCompile(`(?m)^Total bytes (?:sent|received):\s+([\d,.]+)`)

// statsBytes adds rsync's "Total bytes sent" and "Total bytes received".
func statsBytes(out string) int64 {
	var n int64
	for _, m := range statsLine.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseInt(strings.NewReplacer(",", "", ".", "").Replace(m[1]), 10, 64)
		if err == nil {
			n += v
		}
	}
	return n
}

// waitListening waits until something accepts connections on addr.
func waitListening(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on %s: %w", addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
