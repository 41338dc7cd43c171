package integration

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// counterWriter keeps rewriting a set of files on the primary, each with
// an increasing counter, replacing each whole (rename from a scratch
// directory) so that a reader never sees a partial file. Every few writes
// it also creates a new file, and deletes the one created a few rounds
// before, so that a manifest of the tree has creates and deletes too.
type counterWriter struct {
	t       *testing.T
	root    string
	scratch string
	files   int
	every   time.Duration

	mu      sync.Mutex
	last    []int        // per file: the counter of its last completed write
	n       int          // writes done
	created []string     // new files, in creation order (each created once)
	deleted map[int]bool // indexes into created of the files deleted since

	stop chan struct{}
	done chan struct{}
}

func counterFile(i int) string { return fmt.Sprintf("load/c%02d.txt", i) }

// startCounterWriter writes every file once, then keeps rewriting them in
// turn, one every `every`, until stopped.
func startCounterWriter(t *testing.T, root, scratch string, files int, every time.Duration) *counterWriter {
	w := &counterWriter{t: t, root: root, scratch: scratch, files: files, every: every,
		last: make([]int, files), deleted: make(map[int]bool), stop: make(chan struct{}), done: make(chan struct{})}
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
	tmp := filepath.Join(w.scratch, fmt.Sprintf("c%02d.tmp", i))
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
		if counter%5 == 0 {
			if err := w.churn(counter); err != nil {
				w.t.Errorf("writer: %v", err)
				return
			}
		}
	}
}

// churnKeep is how many of the newest created files churn keeps.
const churnKeep = 8

// churn creates a new file and deletes the oldest one still there once
// more than churnKeep exist.
func (w *counterWriter) churn(counter int) error {
	name := fmt.Sprintf("load/new/n%06d.txt", counter)
	if err := os.MkdirAll(filepath.Join(w.root, "load", "new"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(w.root, name), []byte(name), 0o644); err != nil {
		return err
	}
	w.mu.Lock()
	w.created = append(w.created, name)
	victim := len(w.created) - 1 - churnKeep
	w.mu.Unlock()
	if victim < 0 {
		return nil
	}
	if err := os.Remove(filepath.Join(w.root, w.created[victim])); err != nil {
		return err
	}
	w.mu.Lock()
	w.deleted[victim] = true
	w.mu.Unlock()
	return nil
}

// manifest is what the writer had done at one moment: every file's last
// counter, the files created and those deleted.
type manifest struct {
	counters []int
	writes   int
	created  []string
	deleted  map[int]bool
}

// manifest captures what the writer has completed so far.
func (w *counterWriter) manifest() manifest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return manifest{counters: append([]int(nil), w.last...), writes: w.n,
		created: append([]string(nil), w.created...), deleted: maps.Clone(w.deleted)}
}

// lacking lists what of m the tree at root lacks: a counter older than
// m's, a created file missing (unless the writer has deleted it since: the
// tree may hold that newer state; later is read after the tree), a deleted
// file still there.
func (m manifest) lacking(root string, later func() manifest) []string {
	var out []string
	for i, want := range m.counters {
		got, err := readCounter(filepath.Join(root, counterFile(i)))
		if err != nil || got < want {
			out = append(out, fmt.Sprintf("%s: %d (%v), the primary had %d", counterFile(i), got, err, want))
		}
	}
	var missing []int
	for i, name := range m.created {
		_, err := os.Lstat(filepath.Join(root, name))
		switch {
		case m.deleted[i] && err == nil:
			out = append(out, fmt.Sprintf("%s: still there, the primary had deleted it", name))
		case !m.deleted[i] && err != nil:
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		now := later()
		for _, i := range missing {
			if !now.deleted[i] {
				out = append(out, fmt.Sprintf("%s: missing, the primary had created it", m.created[i]))
			}
		}
	}
	return out
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

// TestBarrierUnderLoad: while a writer keeps rewriting, creating and
// deleting files on the primary, each barrier returns (exit 0) only once
// every change completed before the barrier started (T) is on the
// secondary: against the writer's manifest captured at T, every file
// there holds at least the counter it had on the primary, the files
// created before T exist and those deleted before T are gone.
func TestBarrierUnderLoad(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	w := startCounterWriter(t, root, c.scratch(), 40, 4*time.Millisecond)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	secondary := c.tree("nfs2", "data")
	for round := range 4 {
		time.Sleep(time.Duration(150+100*round) * time.Millisecond)
		atT := w.manifest() // T: every change recorded here has completed
		out, errOut, code, took := c.barrierCLI(ctx, primaryName, "--timeout", "30s")
		if code != 0 {
			t.Fatalf("round %d: barrier exit %d after %s\nstdout: %s\nstderr: %s", round, code, took, out, errOut)
		}
		if behind := atT.lacking(secondary, w.manifest); len(behind) > 0 {
			t.Fatalf("round %d: barrier returned 0 after %s but the secondary lacks changes made before it:\n  %s\nstdout: %s",
				round, took, strings.Join(behind, "\n  "), out)
		}
		t.Logf("round %d: barrier after %d writes, %d creates, %d deletes took %s: %s", round, atT.writes, len(atT.created),
			len(atT.deleted), took.Round(time.Millisecond), strings.TrimSpace(out))
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

// TestBarrierPausedSecondary: a paused secondary holds a barrier back: it
// fails within its timeout naming the pause, and succeeds once the pause
// is resumed; then --verify compares the trees and finds them equal.
func TestBarrierPausedSecondary(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	smallTree(t, root, 50, 11)
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	c.waitConsistent(ctx, "nfs2")
	sock := c.node(primaryName).socket

	c.mustCLI("pause", "--socket", sock, "--peer", "nfs2", "--ttl", "5m", "--timeout", "30s")
	writeFile(t, filepath.Join(root, "while-paused.txt"), []byte("staged on nfs2, not applied\n"), 0o644)
	out, errOut, code, took := c.barrierCLI(ctx, primaryName, "--timeout", "2s")
	if code != 3 || !mentions(errOut, "nfs2 (paused (pause", "ncsync resume --peer nfs2", "folder data at") {
		t.Errorf("barrier with nfs2 paused: exit %d after %s; want 3 naming the pause\nstdout: %s\nstderr: %s", code, took, out, errOut)
	}

	c.mustCLI("resume", "--socket", sock, "--peer", "nfs2")
	out, errOut, code, took = c.barrierCLI(ctx, primaryName, "--timeout", "20s")
	if code != 0 {
		t.Fatalf("barrier after resume: exit %d after %s\nstdout: %s\nstderr: %s", code, took, out, errOut)
	}
	if got, err := os.ReadFile(filepath.Join(c.tree("nfs2", "data"), "while-paused.txt")); err != nil || !strings.Contains(string(got), "staged") {
		t.Errorf("barrier returned 0 but nfs2 lacks while-paused.txt: %q, %v", got, err)
	}

	out, errOut, code, _ = c.barrierCLI(ctx, primaryName, "--verify", "--timeout", "20s")
	if code != 0 || !mentions(out, "verified") {
		t.Errorf("barrier --verify on a consistent cluster: exit %d; want 0 saying the trees were verified\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}
