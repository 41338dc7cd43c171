package integration

import (
	"bytes"
	"context"
	"encoding/binary"
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

// rewriter rewrites a few large files on the primary again and again,
// most in place, in bursts (each file every few tens of milliseconds) with
// quiet gaps between them, so that the primary often no longer holds the
// chunks of a version it journaled by the time the secondary asks for
// them.
type rewriter struct {
	t       *testing.T
	root    string
	scratch string

	mu   sync.Mutex
	last []int // per file: the counter of its last completed write

	stop, done chan struct{}
}

const (
	rewriteFiles = 4
	rewriteSize  = 4 << 20
)

func rewriteName(i int) string { return fmt.Sprintf("hot/r%d.bin", i) }

// rewriteBase is the body every version varies.
var rewriteBase = sync.OnceValue(func() []byte {
	r := rand.New(rand.NewPCG(7, 0x5eed))
	b := make([]byte, rewriteSize)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
})

// A version n of a rewritten file is a header line with n (fixed width)
// and the base body with n stamped into every 4 KiB of it, so that no
// chunk is shared between versions.
const (
	rewriteHeader = 11
	rewriteStamp  = 64 // offset of the stamp in each 4 KiB of the body
)

func rewriteHead(n int) []byte { return fmt.Appendf(nil, "%010d\n", n) }

func rewriteBody(n int) []byte {
	b := bytes.Clone(rewriteBase())
	for off := rewriteStamp; off+8 <= len(b); off += 4096 {
		binary.LittleEndian.PutUint64(b[off:], uint64(n))
	}
	return b
}

// rewriteVersion reads the version of a rewritten file's content. A file
// rewritten in place gets its body first and its header last, so a state
// caught in the middle of writing version n+1 has n's header and stamps
// of n or n+1: the version is the header's, valid when every stamp is at
// least that.
func rewriteVersion(data []byte) (int, error) {
	if len(data) != rewriteHeader+rewriteSize || data[rewriteHeader-1] != '\n' {
		return 0, fmt.Errorf("%d bytes, not a version", len(data))
	}
	n, err := strconv.Atoi(string(data[:rewriteHeader-1]))
	if err != nil {
		return 0, err
	}
	body := bytes.Clone(data[rewriteHeader:])
	base := rewriteBase()
	for off := rewriteStamp; off+8 <= len(body); off += 4096 {
		if s := binary.LittleEndian.Uint64(body[off:]); s < uint64(n) {
			return 0, fmt.Errorf("header of version %d, body of version %d at %d", n, s, off)
		}
		copy(body[off:off+8], base[off:off+8])
	}
	if !bytes.Equal(body, base) {
		return 0, fmt.Errorf("version %d with other content than was written", n)
	}
	return n, nil
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

// write rewrites file i with version n: in place, body first, header
// last, or, for the last file, by a rename.
func (w *rewriter) write(i, n int) error {
	name := filepath.Join(w.root, rewriteName(i))
	if i < rewriteFiles-1 {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteAt(rewriteBody(n), rewriteHeader)
		if err == nil {
			_, err = f.WriteAt(rewriteHead(n), 0)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else {
		tmp := filepath.Join(w.scratch, fmt.Sprintf("r%d.tmp", i))
		if err := os.WriteFile(tmp, append(rewriteHead(n), rewriteBody(n)...), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, name); err != nil {
			return err
		}
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
		got, err := rewriteVersion(data)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s: %v", rewriteName(i), err))
		case got < n:
			out = append(out, fmt.Sprintf("%s: version %d, the primary had %d before the barrier", rewriteName(i), got, n))
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
		time.Sleep(time.Duration(round*37%60) * time.Millisecond)
	}
	w.halt()
	if code := check(round, "20s"); code != 0 {
		t.Fatalf("barrier after the writes stopped: exit %d", code)
	}
	log, _ := os.ReadFile(c.node("nfs2").logPath)
	t.Logf("%d of %d barriers passed; the secondary logged %d skipped versions", passed, round+1,
		strings.Count(string(log), "skipped an entry"))
}
