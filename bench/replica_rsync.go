package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// rsyncDaemon is an rsync daemon serving one writable module ("bench")
// whose path is the target, reached through a counting proxy.
type rsyncDaemon struct {
	cmd   *exec.Cmd
	out   bytes.Buffer
	proxy *Proxy
	done  chan struct{}
}

// startRsyncDaemon starts the daemon on the target side of tn and the
// proxy in front of it.
func startRsyncDaemon(ctx context.Context, bin, dir, dst string, tn *targetNet) (*rsyncDaemon, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "rsyncd.conf")
	text := fmt.Sprintf("use chroot = no\nreverse lookup = no\nlog file = %s\n\n[bench]\n\tpath = %s\n\tread only = no\n\tuid = root\n\tgid = root\n\tuse chroot = no\n",
		filepath.Join(dir, "rsyncd.log"), dst)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("write %q: %w", conf, err)
	}
	d := &rsyncDaemon{done: make(chan struct{})}
	d.cmd = tn.command(bin, "--daemon", "--no-detach", "--config="+conf, "--address="+tn.targetIP(), "--port="+strconv.Itoa(port))
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start rsync daemon: %w", err)
	}
	go func() { // joined through d.done in stop
		d.cmd.Wait()
		close(d.done)
	}()
	addr := fmt.Sprintf("%s:%d", tn.targetIP(), port)
	if err := waitListening(ctx, addr); err != nil {
		d.stop()
		return nil, fmt.Errorf("rsync daemon: %w: %s", err, d.out.String())
	}
	if d.proxy, err = tn.startProxy(addr); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

// url is the module's address for a client on the source side.
func (d *rsyncDaemon) url() string { return "rsync://" + d.proxy.Addr() + "/bench/" }

func (d *rsyncDaemon) exited() error {
	select {
	case <-d.done:
		return fmt.Errorf("rsync daemon exited: %s", lastLines(d.out.String(), 3))
	default:
		return nil
	}
}

// settle waits until the daemon has reaped its connection children, so
// their CPU time is in its accounting.
func (d *rsyncDaemon) settle() {
	for deadline := time.Now().Add(10 * time.Second); len(childPIDs(d.cmd.Process.Pid)) > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *rsyncDaemon) stop() {
	if d == nil {
		return
	}
	if d.proxy != nil {
		d.proxy.Close()
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// rsyncReplica runs `rsync -a --delete` to the daemon after every
// mutation: the floor of any rsync-based tool, which must still notice
// what changed.
type rsyncReplica struct {
	bin      string
	tn       *targetNet
	src      string
	daemon   *rsyncDaemon
	mu       sync.Mutex
	client   int           // pid of the running client, 0 when none
	cpu      time.Duration // of the clients that ran
	lastFail string
}

func (r *rsyncReplica) start(ctx context.Context, src, dst, dir string) error {
	r.src = src
	d, err := startRsyncDaemon(ctx, r.bin, dir, dst, r.tn)
	r.daemon = d
	return err
}

func (r *rsyncReplica) sync(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, r.bin, "-a", "--delete", r.src+"/", r.daemon.url())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start rsync: %w", err)
	}
	r.mu.Lock()
	r.client = cmd.Process.Pid
	r.mu.Unlock()
	err := cmd.Wait()
	r.mu.Lock()
	r.client = 0
	r.cpu += usageOf(cmd.ProcessState).CPU
	r.mu.Unlock()
	r.daemon.settle()
	if err != nil {
		return fmt.Errorf("rsync: %w: %s", err, lastLines(out.String(), 5))
	}
	return nil
}

func (r *rsyncReplica) procs() (source, target []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != 0 {
		source = []int{r.client}
	}
	if r.daemon != nil {
		target = []int{r.daemon.cmd.Process.Pid}
	}
	return source, target
}

func (r *rsyncReplica) extraCPU() (source, target time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cpu, 0
}

func (r *rsyncReplica) wire() (toTarget, toSource int64) { return r.daemon.proxy.Bytes() }
func (r *rsyncReplica) alive() error                     { return r.daemon.exited() }
func (r *rsyncReplica) compare() compareOptions          { return rsyncCompare }
func (r *rsyncReplica) stop()                            { r.daemon.stop() }
func (r *rsyncReplica) note() string {
	return "rsync: `rsync -a --delete SRC/ rsync://…` to an rsync daemon, run right after each mutation (timed from the mutation's start, and from its last write: the time after the last write): the floor of any rsync-based tool; when a pass leaves the target unequal (rsync sometimes leaves a directory's mtime behind), it is run again at once and the passes are counted. rsync and lsyncd targets are compared with directory mtimes in whole seconds: rsync leaves a directory's mtime alone when only its nanoseconds differ"
}
