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
	"syscall"
	"time"
)

// rsyncRun copies with `rsync -a --delete` to an rsync daemon the harness
// starts, through the counting proxy.
type rsyncRun struct {
	rsync   string // the rsync binary
	timeout time.Duration
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
	port, err := freePort()
	if err != nil {
		return Sample{}, err
	}
	conf := filepath.Join(dir, "rsyncd.conf")
	text := fmt.Sprintf("use chroot = no\nlog file = %s\n\n[bench]\n\tpath = %s\n\tread only = no\n\tuid = root\n\tgid = root\n\tuse chroot = no\n",
		filepath.Join(dir, "rsyncd.log"), dst)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return Sample{}, fmt.Errorf("write %q: %w", conf, err)
	}
	d := exec.Command(r.rsync, "--daemon", "--no-detach", "--config="+conf, "--address=127.0.0.1", "--port="+strconv.Itoa(port))
	var dout bytes.Buffer
	d.Stdout, d.Stderr = &dout, &dout
	if err := d.Start(); err != nil {
		return Sample{}, fmt.Errorf("start rsync daemon: %w", err)
	}
	daemonUsage := func() usage { // stops it: its usage includes the reaped per-connection children
		d.Process.Signal(syscall.SIGTERM)
		d.Wait()
		return usageOf(d.ProcessState)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(ctx, addr); err != nil {
		daemonUsage()
		return Sample{}, fmt.Errorf("rsync daemon: %w: %s", err, dout.String())
	}
	proxy, err := StartProxy(addr)
	if err != nil {
		daemonUsage()
		return Sample{}, err
	}
	defer proxy.Close()
	client := exec.CommandContext(ctx, r.rsync, "-a", "--delete", "--stats", src+"/", "rsync://"+proxy.Addr()+"/bench/")
	var out bytes.Buffer
	client.Stdout, client.Stderr = &out, &out
	start := time.Now()
	if err := client.Start(); err != nil {
		daemonUsage()
		return Sample{}, fmt.Errorf("start rsync: %w", err)
	}
	peaks := trackPeaks(20*time.Millisecond, client.Process.Pid, d.Process.Pid)
	err = client.Wait()
	wall := time.Since(start)
	peak := peaks.Stop()
	if err != nil {
		daemonUsage()
		return Sample{}, fmt.Errorf("rsync: %w: %s", err, lastLines(out.String(), 5))
	}
	toTarget, toSource := proxy.Bytes()
	// The daemon's connection child exits after the client: wait until the
	// daemon has reaped it, so its CPU is in the daemon's accounting.
	for deadline := time.Now().Add(10 * time.Second); len(childPIDs(d.Process.Pid)) > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	du := daemonUsage()
	cu := usageOf(client.ProcessState)
	s := Sample{
		Wall:         wall.Seconds(),
		WireToTarget: toTarget, WireToSource: toSource,
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
