package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rewriter replaces a few large files on the primary again and again, in
// bursts (each file every few milliseconds) with quiet gaps between them,
// so that the primary often no longer holds the chunks of a version it
// journaled by the time the secondary asks for them.
type rewriter struct {
	t       *testing.T
	root    string
	scratch string

	mu   sync.Mutex
	last []int // per file: the counter of its last completed write

	stop, done chan struct{}
}

const (
	rewriteFiles = 3
	rewriteSize  = 1 << 20
)

func rewriteName(i int) string { return fmt.Sprintf("hot/r%d.bin", i) }

// rewriteData is the content of a rewritten file at counter n: a header
// line with n, then bytes that no other version shares.
func rewriteData(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 0x5eed))
	b := make([]byte, rewriteSize)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return append([]byte(strconv.Itoa(n)+"\n"), b...)
}

func startRewriter(t *testing.T, root, scratch string) *rewriter {
	w := &rewriter{t: t, root: root, scratch: scratch, last: make([]int, rewriteFiles),
		stop: make(chan struct{}), done: make(chan struct{})}
	if err := os.MkdirAll(filepath.Join(root, "hot"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range rewriteFiles {
		if err := w.write(i, i+1); err != nil {
			t.Fatal(err)
		}
	}
	go w.run()
	t.Cleanup(w.halt)
	return w
}

func (w *rewriter) write(i, n int) error {
	tmp := filepath.Join(w.scratch, fmt.Sprintf("r%d.tmp", i))
	if err := os.WriteFile(tmp, rewriteData(n), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(w.root, rewriteName(i))); err != nil {
		return err
	}
	w.mu.Lock()
	w.last[i] = n
	w.mu.Unlock()
	return nil
}

func (w *rewriter) run() {
	defer close(w.done)
	rng := rand.New(rand.NewPCG(1, 2))
	n := rewriteFiles + 1
	for {
		burst := time.Now().Add(time.Duration(200+rng.IntN(300)) * time.Millisecond)
		for time.Now().Before(burst) {
			if err := w.write(n%rewriteFiles, n); err != nil {
				w.t.Errorf("rewriter: %v", err)
				return
			}
			n++
			select {
			case <-w.stop:
				return
			case <-time.After(time.Duration(2+rng.IntN(10)) * time.Millisecond):
			}
		}
		select {
		case <-w.stop:
			return
		case <-time.After(time.Duration(100+rng.IntN(300)) * time.Millisecond):
		}
	}
}

func (w *rewriter) counters() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.last...)
}

func (w *rewriter) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// lacking lists the files under root that hold an older version than
// want, or a version not as written.
func (w *rewriter) lacking(root string, want []int) []string {
	var out []string
	for i, n := range want {
		data, err := os.ReadFile(filepath.Join(root, rewriteName(i)))
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v, the primary had version %d", rewriteName(i), err, n))
			continue
		}
		line, _, _ := bytes.Cut(data, []byte("\n"))
		got, err := strconv.Atoi(string(line))
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s: no version header (%v)", rewriteName(i), err))
		case got < n:
			out = append(out, fmt.Sprintf("%s: version %d, the primary had %d before the barrier", rewriteName(i), got, n))
		case !bytes.Equal(data, rewriteData(got)):
			out = append(out, fmt.Sprintf("%s: version %d with other content than was written", rewriteName(i), got))
		}
	}
	return out
}

// TestBarrierOverRewrittenFiles: while large files are replaced again and
// again on the primary, so that the secondary often finds that a version
// it was sent is gone (it skips it: a newer one follows), every barrier
// that passes holds on the secondary every version written before it
// started. A barrier that waits beyond its timeout because the files keep
// changing is allowed; once the writes stop, one must pass.
func TestBarrierOverRewrittenFiles(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	root := c.tree(primaryName, "data")
	w := startRewriter(t, root, c.scratch())
	c.start(primaryName)
	c.start("nfs2")
	ctx := context.Background()
	secondary := c.tree("nfs2", "data")
	passed := 0
	check := func(round int, timeout string) int {
		want := w.counters() // every write recorded here has completed
		out, errOut, code, took := c.barrierCLI(ctx, primaryName, "--timeout", timeout)
		switch code {
		case 0:
			if behind := w.lacking(secondary, want); len(behind) > 0 {
				t.Fatalf("round %d: barrier returned 0 after %s but the secondary lacks versions written before it:\n  %s\nstdout: %s",
					round, took, strings.Join(behind, "\n  "), out)
			}
			passed++
		case 3: // timed out: allowed while the files keep changing
		default:
			t.Fatalf("round %d: barrier exit %d after %s\nstdout: %s\nstderr: %s", round, code, took, out, errOut)
		}
		t.Logf("round %d: exit %d after %s", round, code, took.Round(time.Millisecond))
		return code
	}
	deadline := time.Now().Add(8 * time.Second)
	round := 0
	for ; time.Now().Before(deadline); round++ {
		check(round, "2s")
		time.Sleep(time.Duration(50+round*37%150) * time.Millisecond)
	}
	w.halt()
	if code := check(round, "20s"); code != 0 {
		t.Fatalf("barrier after the writes stopped: exit %d", code)
	}
	log, _ := os.ReadFile(c.node("nfs2").logPath)
	t.Logf("%d of %d barriers passed; the secondary logged %d skipped versions", passed, round+1,
		strings.Count(string(log), "skipped an entry"))
}
