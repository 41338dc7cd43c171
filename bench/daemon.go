package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Daemon is one node's `ncsync run` process, as the bench and the
// integration tests start it. Start runs it; once it has exited, Start runs
// it again with the same command, its output appended to the same log.
// The methods may be called from several goroutines.
type Daemon struct {
	Bin    string   // the ncsync binary
	Name   string   // the node
	Config string   // its config file
	Socket string   // its control socket
	Log    string   // its stdout and stderr, appended to at every start
	Args   []string // more arguments of `ncsync run`, after --config
	// Profile, when set, receives the CPU profile of the first start
	// (name.pprof) and Profile with -2, -3 … before its extension those of
	// later starts, so that a restart does not overwrite the first run's;
	// the heap profile at the largest live heap goes beside each, with
	// .heap before the extension (name.heap.pprof).
	Profile string
	// Wrap, when set, changes the command before it starts (another user
	// namespace, limits).
	Wrap func(*exec.Cmd)

	net *targetNet // the network namespace it runs in; nil: the harness's

	mu     sync.Mutex
	cmd    *exec.Cmd     // the last process started
	done   chan struct{} // closed when cmd has exited
	err    error         // cmd.Wait's result, once done
	starts int           // how many times it was started
}

// Start launches the daemon; it fails if the daemon is already running.
func (d *Daemon) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil && !isClosed(d.done) {
		return fmt.Errorf("start %s: already running", d.Name)
	}
	logf, err := os.OpenFile(d.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", d.Name, err)
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "===== start %s at %s\n", d.Name, time.Now().Format(time.RFC3339Nano))
	args := append([]string{"run", "--config", d.Config}, d.Args...)
	if d.Profile != "" {
		cpu := profileName(d.Profile, d.starts+1)
		ext := filepath.Ext(cpu)
		args = append(args, "--cpuprofile", cpu, "--memprofile", strings.TrimSuffix(cpu, ext)+".heap"+ext)
	}
	cmd := d.net.command(d.Bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if d.Wrap != nil {
		d.Wrap(cmd)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.Name, err)
	}
	done := make(chan struct{})
	d.cmd, d.done, d.err = cmd, done, nil
	d.starts++
	go func() { // joined through done (Wait, Stop, Kill)
		err := cmd.Wait()
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		close(done)
	}()
	return nil
}

// current is the last process started and its done channel; nil, nil
// before the first Start.
func (d *Daemon) current() (*exec.Cmd, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd, d.done
}

// Pid is the process id of the last process started; 0 before Start.
func (d *Daemon) Pid() int {
	cmd, _ := d.current()
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	return cmd.Process.Pid
}

// Running reports whether the daemon was started and has not exited.
func (d *Daemon) Running() bool {
	cmd, done := d.current()
	return cmd != nil && !isClosed(done)
}

// Exited reports whether the daemon was started and has exited since.
func (d *Daemon) Exited() bool {
	cmd, done := d.current()
	return cmd != nil && isClosed(done)
}

// Err is the last process's Wait error once it has exited (nil: status 0).
func (d *Daemon) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Signal sends sig to the running daemon.
func (d *Daemon) Signal(sig os.Signal) error {
	cmd, done := d.current()
	if cmd == nil || isClosed(done) {
		return fmt.Errorf("signal %s: not running", d.Name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", d.Name, err)
	}
	return nil
}

// Wait waits up to timeout for the daemon to exit and reports whether it
// did (true also when it was never started).
func (d *Daemon) Wait(timeout time.Duration) bool {
	cmd, done := d.current()
	if cmd == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Kill kills the daemon if it is running and waits for it to die.
func (d *Daemon) Kill() {
	cmd, done := d.current()
	if cmd == nil {
		return
	}
	if !isClosed(done) {
		cmd.Process.Kill()
	}
	<-done
}

// Stop sends SIGTERM and waits up to grace for the daemon to exit, then
// kills it; it reports whether the daemon exited within grace.
func (d *Daemon) Stop(grace time.Duration) bool {
	if err := d.Signal(syscall.SIGTERM); err != nil {
		return true
	}
	if d.Wait(grace) {
		return true
	}
	d.Kill()
	return false
}

// exited reports an error if the daemon is no longer running.
func (d *Daemon) exited() error {
	if d.Exited() {
		return fmt.Errorf("%s exited (%v); see its log %q", d.Name, d.Err(), d.Log)
	}
	return nil
}

// stop ends the daemon (SIGTERM, then SIGKILL after 15 s) and returns what
// the kernel accounted for it.
func (d *Daemon) stop() usage {
	if d == nil {
		return usage{}
	}
	d.Stop(15 * time.Second)
	cmd, _ := d.current()
	if cmd == nil {
		return usage{}
	}
	return usageOf(cmd.ProcessState)
}

// startDaemon writes nc's config into dir and starts its daemon in tn
// (nil: here), logging to dir; profile, when set, gets its CPU profile.
func startDaemon(bin, dir string, nc NodeConfig, tn *targetNet, profile string) (*Daemon, error) {
	d := &Daemon{Bin: bin, Name: nc.Node, Config: filepath.Join(dir, nc.Node+".yaml"),
		Socket: nc.ControlSocket, Log: filepath.Join(dir, nc.Node+".log"), net: tn}
	d.Profile = profile
	if err := nc.Write(d.Config); err != nil {
		return nil, err
	}
	if err := d.Start(); err != nil {
		return nil, err
	}
	return d, nil
}

// profileName is the profile file of the nth start: profile itself for the
// first, with -n before its extension for later ones.
func profileName(profile string, n int) string {
	if n <= 1 {
		return profile
	}
	ext := filepath.Ext(profile)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(profile, ext), n, ext)
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
