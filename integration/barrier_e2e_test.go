package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// counterWriter keeps rewriting a set of files on the primary, each with
// an increasing counter, replacing each whole (rename from a staging
// directory) so that a reader never sees a partial file.
type counterWriter struct {
	t       *testing.T
	root    string
	staging string
	files   int
	every   time.Duration

	mu   sync.Mutex
	last []int // per file: the counter of its last completed write
	n    int   // writes done

	stop chan struct{}
	done chan struct{}
}

func counterFile(i int) string { return fmt.Sprintf("load/c%02d.txt", i) }

// startCounterWriter writes every file once, then keeps rewriting them in
// turn, one every `every`, until stopped.
func startCounterWriter(t *testing.T, root, staging string, files int, every time.Duration) *counterWriter {
	w := &counterWriter{t: t, root: root, staging: staging, files: files, every: every,
		last: make([]int, files), stop: make(chan struct{}), done: make(chan struct{})}
	if err := os.MkdirAll(filepath.Join(root, "load"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if err := w.write(i, 0); err != nil {
			t.Fatal(err)
		}
	}
	go w.run()
	t.Cleanup(w.halt)
	return w
}

func (w *counterWriter) write(i, counter int) error {
	tmp := filepath.Join(w.staging, fmt.Sprintf("c%02d.tmp", i))
	// Some padding so the file has a real chunk to fetch.
	data := fmt.Sprintf("%d\n%s", counter, strings.Repeat(strconv.Itoa(counter%10), 2000))
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(w.root, counterFile(i))); err != nil {
		return err
	}
	w.mu.Lock()
	w.last[i] = counter
	w.n++
	w.mu.Unlock()
	return nil
}

func (w *counterWriter) run() {
	defer close(w.done)
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for counter := 1; ; counter++ {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		if err := w.write(counter%w.files, counter); err != nil {
			w.t.Errorf("writer: %v", err)
			return
		}
	}
}

// snapshot returns the counter of every file's last completed write.
func (w *counterWriter) snapshot() ([]int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.last...), w.n
}

func (w *counterWriter) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// readCounter reads the counter in a file written by counterWriter.
func readCounter(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strconv.Atoi(line)
}

// barrierCLI runs `ncsync barrier` against the node's socket and returns
// its stdout, stderr, exit code and how long it took.
func (c *cluster) barrierCLI(ctx context.Context, name string, args ...string) (string, string, int, time.Duration) {
	c.t.Helper()
	start := time.Now()
	out, errOut, code, err := cliWith(ctx, append([]string{"barrier", "--socket", c.node(name).socket}, args...)...)
	took := time.Since(start)
	if err != nil {
		c.t.Fatalf("barrier %v: %v", args, err)
	}
	return out, errOut, code, took
}

// TestBarrierUnderLoad: while a writer keeps rewriting files on the
// primary, each barrier returns (exit 0) only once every write completed
// before the barrier started is on the secondary: every file there holds
// at least the counter it had on the primary when the barrier started.
func TestBarrierUnderLoad(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	w := startCounterWriter(t, root, c.staging(), 40, 4*time.Millisecond)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	secondary := c.tree("nfs2", "data")
	for round := range 4 {
		time.Sleep(time.Duration(150+100*round) * time.Millisecond)
		atT, writes := w.snapshot() // T: every write counted here has completed
		out, errOut, code, took := c.barrierCLI(ctx, primaryName, "--timeout", "30s")
		if code != 0 {
			t.Fatalf("round %d: barrier exit %d after %s\nstdout: %s\nstderr: %s", round, code, took, out, errOut)
		}
		var behind []string
		for i, want := range atT {
			got, err := readCounter(filepath.Join(secondary, counterFile(i)))
			if err != nil || got < want {
				behind = append(behind, fmt.Sprintf("%s: %d (%v), primary had %d at T", counterFile(i), got, err, want))
			}
		}
		if len(behind) > 0 {
			t.Fatalf("round %d: barrier returned 0 after %s but the secondary lacks writes made before it:\n  %s\nstdout: %s",
				round, took, strings.Join(behind, "\n  "), out)
		}
		t.Logf("round %d: barrier after %d writes took %s: %s", round, writes, took.Round(time.Millisecond), strings.TrimSpace(out))
	}
	w.halt()
	c.waitConsistent(ctx, "nfs2")
}

// TestBarrierStoppedSecondary: an idle, consistent cluster answers at
// once; with one secondary stopped the barrier fails within its timeout
// (exit 3) naming that secondary and its position; meanwhile status shows
// the barrier, and a second barrier for the live secondary succeeds. An
// unknown peer is refused with the configured ones listed.
func TestBarrierStoppedSecondary(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{secondaries: []string{"nfs2", "nfs3"}})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 200, 71)
	c.start(primaryName)
	c.start("nfs2")
	c.start("nfs3")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2", "nfs3")

	// Idle and consistent: the fastest of a few runs, process start included.
	best := time.Hour
	for range 5 {
		out, errOut, code, took := c.barrierCLI(ctx, primaryName)
		if code != 0 {
			t.Fatalf("idle barrier: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		best = min(best, took)
	}
	t.Logf("idle barrier (ncsync barrier, process start included): %s", best)
	if best > time.Second {
		t.Errorf("an idle, consistent cluster took %s to answer a barrier", best)
	}

	out, errOut, code, _ := c.barrierCLI(ctx, primaryName, "--peer", "nfs9")
	if code == 0 || !mentions(errOut, "nfs9", "nfs2", "nfs3") {
		t.Errorf("unknown peer: exit %d, stderr %q; want a failure naming nfs9 and the configured nfs2, nfs3 (stdout %q)", code, errOut, out)
	}

	c.stop("nfs3")
	writeFile(t, filepath.Join(root, "after-stop.txt"), []byte("nfs3 does not have this\n"), 0o644)

	const timeout = 4 * time.Second
	type result struct {
		out, errOut string
		code        int
		took        time.Duration
	}
	first := make(chan result, 1)
	go func() {
		out, errOut, code, took := c.barrierCLI(ctx, primaryName, "--timeout", timeout.String())
		first <- result{out, errOut, code, took}
	}()

	// While it waits, status shows it.
	var shown string
	waitFor(t, timeout, func() string { return "status never listed the waiting barrier" }, func() bool {
		st, err := c.status(primaryName)
		if err != nil || len(st.Barriers) == 0 {
			return false
		}
		shown = fmt.Sprintf("%+v", st.Barriers)
		return true
	})
	t.Logf("status during the barrier: %s", shown)
	text, errText, code, err := cli(ctx, "status", "--socket", c.node(primaryName).socket)
	if err != nil || code != 0 || !strings.Contains(text, "BARRIER") {
		t.Errorf("ncsync status (text) does not show the barrier: exit %d, %v\n%s%s", code, err, text, errText)
	}

	// A second barrier, for the live secondary only, succeeds meanwhile.
	out, errOut, code, took := c.barrierCLI(ctx, primaryName, "--peer", "nfs2", "--timeout", "10s")
	if code != 0 {
		t.Errorf("second barrier (nfs2): exit %d after %s\nstdout: %s\nstderr: %s", code, took, out, errOut)
	}
	select {
	case r := <-first:
		t.Fatalf("the first barrier ended (exit %d after %s) before the second one did", r.code, r.took)
	default:
	}

	r := <-first
	t.Logf("barrier with nfs3 stopped: exit %d after %s; stderr:\n%s", r.code, r.took.Round(time.Millisecond), r.errOut)
	if r.code != 3 {
		t.Errorf("exit %d, want 3 (timeout)", r.code)
	}
	if r.took < timeout || r.took > timeout+5*time.Second {
		t.Errorf("took %s, want just over the %s timeout", r.took, timeout)
	}
	last := r.errOut[strings.LastIndex(r.errOut, "ncsync:"):]
	if !mentions(last, "nfs3", "disconnected", "folder data at") {
		t.Errorf("the failure does not name nfs3 with its position: %q", last)
	}
	if strings.Contains(last, "nfs2") {
		t.Errorf("the failure names nfs2, which is up to date: %q", last)
	}
}
