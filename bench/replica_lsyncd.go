package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// lsyncdReplica runs lsyncd with default.rsync against the rsync daemon:
// lsyncd watches the source with inotify and, `delay` seconds after the
// first event of a batch, runs rsync on the changed paths.
type lsyncdReplica struct {
	bin, rsync string
	delay      int // seconds; 0 for lsyncd's default (15)
	tn         *targetNet
	daemon     *rsyncDaemon
	cmd        *exec.Cmd
	out        bytes.Buffer
	log        string
	done       chan struct{}
}

// findLsyncd returns the lsyncd binary, or why it cannot run.
func findLsyncd() (string, error) {
	p, err := exec.LookPath("lsyncd")
	if err != nil {
		return "", fmt.Errorf("lsyncd not installed (tools/install-bench-peers.sh installs it)")
	}
	return p, nil
}

func (l *lsyncdReplica) start(ctx context.Context, src, dst, dir string) error {
	d, err := startRsyncDaemon(ctx, l.rsync, dir, dst, l.tn)
	if err != nil {
		return err
	}
	l.daemon = d
	l.log = filepath.Join(dir, "lsyncd.log")
	delay := ""
	if l.delay > 0 {
		delay = fmt.Sprintf("\tdelay = %d,\n", l.delay)
	}
	conf := fmt.Sprintf(`settings {
	logfile = %q,
	statusFile = %q,
	nodaemon = true,
	insist = true,
}
sync {
	default.rsync,
	source = %q,
	target = %q,
%s	rsync = { binary = %q, archive = true },
}
`, l.log, filepath.Join(dir, "lsyncd.status"), src, d.url(), delay, l.rsync)
	cfg := filepath.Join(dir, "lsyncd.lua")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("write %q: %w", cfg, err)
	}
	l.cmd = exec.Command(l.bin, cfg)
	l.cmd.Stdout, l.cmd.Stderr = &l.out, &l.out
	if err := l.cmd.Start(); err != nil {
		return fmt.Errorf("start lsyncd: %w", err)
	}
	l.done = make(chan struct{})
	go func() { // joined through l.done in stop
		l.cmd.Wait()
		close(l.done)
	}()
	return nil
}

func (l *lsyncdReplica) sync(context.Context) error { return nil }

func (l *lsyncdReplica) procs() (source, target []int) {
	if l.cmd != nil && l.cmd.Process != nil {
		source = []int{l.cmd.Process.Pid}
	}
	if l.daemon != nil {
		target = []int{l.daemon.cmd.Process.Pid}
	}
	return source, target
}

func (l *lsyncdReplica) extraCPU() (source, target time.Duration) { return 0, 0 }
func (l *lsyncdReplica) wire() (toTarget, toSource int64)         { return l.daemon.proxy.Bytes() }
func (l *lsyncdReplica) compare() compareOptions                  { return rsyncCompare }

func (l *lsyncdReplica) alive() error {
	select {
	case <-l.done:
		return fmt.Errorf("lsyncd exited: %s; see %q", lastLines(l.out.String(), 3), l.log)
	default:
		return l.daemon.exited()
	}
}

func (l *lsyncdReplica) note() string {
	d := "its default delay (15 s)"
	if l.delay > 0 {
		d = fmt.Sprintf("delay = %d", l.delay)
	}
	return fmt.Sprintf("lsyncd: default.rsync with archive = true to the rsync daemon, %s", d)
}

func (l *lsyncdReplica) stop() {
	if l.cmd != nil && l.cmd.Process != nil {
		l.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			l.cmd.Process.Kill()
			<-l.done
		}
	}
	l.daemon.stop()
}
