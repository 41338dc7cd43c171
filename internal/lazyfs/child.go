package lazyfs

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// A Go process must not serve a mount whose files it maps into memory
// (bbolt does): a page fault on the mapping waits for the server, and the
// garbage collector, unable to stop the faulting thread, stops the server
// instead. Such a test serves the mount from a child process: the test
// binary started again, which ServeChildIfAsked turns into the server.

// Environment variables that carry the backing directory and the
// mountpoint to the child.
const (
	childBackingEnv = "NCSYNC_LAZYFS_BACKING"
	childMountEnv   = "NCSYNC_LAZYFS_MOUNT"
)

// ServeChildIfAsked serves a lazy file system and exits if this process was
// started by StartChild; otherwise it returns at once. Call it first in
// TestMain.
func ServeChildIfAsked() {
	backing, ok := os.LookupEnv(childBackingEnv)
	if !ok {
		return
	}
	mnt := os.Getenv(childMountEnv)
	os.Exit(serveChild(backing, mnt, os.Stdin, os.Stdout))
}

// serveChild mounts, says "ready", then runs the commands read from in,
// one a line: stats, cut, unmount. End of input unmounts.
func serveChild(backing, mnt string, in io.Reader, out io.Writer) int {
	f, err := Mount(backing, mnt)
	if err != nil {
		fmt.Fprintf(out, "error %s\n", oneLine(err))
		return 1
	}
	fmt.Fprintln(out, "ready")
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var err error
		switch cmd := sc.Text(); cmd {
		case "stats":
			b, _ := json.Marshal(f.Stats())
			fmt.Fprintf(out, "ok %s\n", b)
			continue
		case "cut":
			err = f.Cut()
		case "unmount":
			err = f.Unmount()
		default:
			err = fmt.Errorf("unknown command %q", cmd)
		}
		if err != nil {
			fmt.Fprintf(out, "error %s\n", oneLine(err))
			continue
		}
		fmt.Fprintln(out, "ok")
	}
	if err := f.Unmount(); err != nil {
		return 1
	}
	return 0
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// Child is a lazy file system served by a child process.
type Child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	done bool
}

// StartChild mounts backing at mnt from a child process: the running
// binary again, whose TestMain must call ServeChildIfAsked.
func StartChild(backing, mnt string) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childBackingEnv+"="+backing, childMountEnv+"="+mnt)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, in: in, out: bufio.NewReader(outp)}
	line, err := c.out.ReadString('\n')
	if err != nil || line != "ready\n" {
		c.in.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("lazyfs child: %q %v", strings.TrimSpace(line), err)
	}
	return c, nil
}

func (c *Child) call(cmd string) (string, error) {
	if c.done {
		return "", errors.New("lazyfs child: already unmounted")
	}
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		return "", fmt.Errorf("lazyfs child: %w", err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("lazyfs child: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", fmt.Errorf("lazyfs child: %s", msg)
	}
	return strings.TrimPrefix(strings.TrimPrefix(line, "ok"), " "), nil
}

// Stats returns the durability calls the child's file system received.
func (c *Child) Stats() (Stats, error) {
	var s Stats
	b, err := c.call("stats")
	if err == nil {
		err = json.Unmarshal([]byte(b), &s)
	}
	return s, err
}

// Cut cuts the power (see FS.Cut) and waits for the child to exit.
func (c *Child) Cut() error { return c.end("cut") }

// Unmount unmounts cleanly (see FS.Unmount) and waits for the child to
// exit. It does nothing after Cut or Unmount.
func (c *Child) Unmount() error {
	if c.done {
		return nil
	}
	return c.end("unmount")
}

func (c *Child) end(cmd string) error {
	_, err := c.call(cmd)
	c.done = true
	c.in.Close()
	if werr := c.cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("lazyfs child: %w", werr)
	}
	return err
}
