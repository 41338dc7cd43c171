package integration

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/internal/lazyfs"
	"github.com/ncsync/ncsync/report"
)

// powerLossRounds is the number of power cuts of TestPowerLoss, split
// between its two configurations; NCSYNC_POWERLOSS_ROUNDS overrides it.
const powerLossRounds = 100

// TestPowerLoss cuts the power under a running replication, over and over:
// once with the secondary's folder on a file system that loses whatever
// was not made durable (internal/lazyfs), once with the primary's
// state_dir on one. Each round lets a writer change the primary's tree for
// a random while, cuts the power at that point (the node dies with it),
// mounts what remains and starts the node again. It checks that
//   - every change the secondary had acknowledged is on its disk after
//     the cut, whole (secondary folder), and
//   - a barrier taken after the restart passes only with the secondary
//     equal to the primary (both configurations).
func TestPowerLoss(t *testing.T) {
	skipShort(t)
	if err := lazyfs.Available(); err != nil {
		t.Skipf("power-loss test: %v", err)
	}
	rounds := powerLossRounds
	if s := os.Getenv("NCSYNC_POWERLOSS_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("NCSYNC_POWERLOSS_ROUNDS=%q: %v", s, err)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NCSYNC_POWERLOSS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (NCSYNC_POWERLOSS_SEED to repeat), %d rounds", seed, rounds)
	// A primary's round costs twice a secondary's (restart, rescan,
	// reconnection): three rounds in five cut the secondary.
	t.Run("secondary folder", func(t *testing.T) { powerLossSecondary(t, rounds-rounds*2/5, seed) })
	t.Run("primary state_dir", func(t *testing.T) { powerLossPrimary(t, rounds*2/5, seed+1) })
}

// lazyMount is a lazy file system at a node's path, mounted again after
// each cut over what the cut left.
type lazyMount struct {
	t                   *testing.T
	backing, mountpoint string
	fs                  *lazyfs.FS
}

// newLazyMount moves what mountpoint holds into a backing directory and
// mounts it there.
func newLazyMount(t *testing.T, mountpoint, backing string) *lazyMount {
	t.Helper()
	if err := os.MkdirAll(mountpoint, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(mountpoint, backing); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mountpoint, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &lazyMount{t: t, backing: backing, mountpoint: mountpoint}
	m.mount()
	t.Cleanup(func() {
		if m.fs != nil {
			_ = m.fs.Unmount()
		}
	})
	return m
}

func (m *lazyMount) mount() {
	m.t.Helper()
	fs, err := lazyfs.Mount(m.backing, m.mountpoint)
	if err != nil {
		m.t.Fatal(err)
	}
	m.fs = fs
}

// cut cuts the power of the file system and kills node with it.
func (m *lazyMount) cut(c *cluster, node string) {
	m.t.Helper()
	if err := m.fs.Cut(); err != nil {
		m.t.Fatalf("cut: %v", err)
	}
	m.fs = nil
	c.kill9(node)
}

func powerLossSecondary(t *testing.T, rounds int, seed uint64) {
	c := newCluster(t, clusterOptions{})
	sec := c.node("nfs2")
	m := newLazyMount(t, sec.trees["data"], filepath.Join(c.dir, "nfs2-data-backing"))
	w := newPowerWriter(c.tree(primaryName, "data"), seed)
	c.start(primaryName)
	c.start("nfs2")
	rng := rand.New(rand.NewPCG(seed, 2))
	var checked int
	for round := range rounds {
		w.start()
		time.Sleep(time.Duration(30+rng.IntN(300)) * time.Millisecond)
		m.cut(c, "nfs2")
		acked := ackedSeq(t, c.mustStatus(primaryName), "nfs2", "data")
		checked += checkAcked(t, round, sec, m.backing, acked, w.removed)
		if t.Failed() {
			w.stop()
			return
		}
		m.mount()
		c.start("nfs2")
		w.stop()
		barrierThenEqual(t, c, round)
	}
	t.Logf("%d cuts; %d acknowledged entries checked on the secondary's disk after the cuts; %d changes written", rounds, checked, w.ops)
}

func powerLossPrimary(t *testing.T, rounds int, seed uint64) {
	c := newCluster(t, clusterOptions{})
	prim := c.node(primaryName)
	m := newLazyMount(t, prim.stateDir, filepath.Join(c.dir, "nfs1-state-backing"))
	w := newPowerWriter(c.tree(primaryName, "data"), seed)
	c.start(primaryName)
	c.start("nfs2")
	rng := rand.New(rand.NewPCG(seed, 2))
	for round := range rounds {
		w.start()
		time.Sleep(time.Duration(30+rng.IntN(300)) * time.Millisecond)
		m.cut(c, primaryName)
		m.mount()
		c.start(primaryName)
		// The secondary's reconnection backoff grows with every lost
		// primary (to about 10 s): restarted, it connects at once.
		c.kill9("nfs2")
		c.start("nfs2")
		w.stop()
		barrierThenEqual(t, c, round)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d cuts of the primary's state_dir; %d changes written", rounds, w.ops)
}

// barrierThenEqual runs a barrier, which must pass, and requires the
// secondary to equal the primary as soon as it did.
func barrierThenEqual(t *testing.T, c *cluster, round int) {
	t.Helper()
	out, errOut, code, took := c.barrierCLI(context.Background(), primaryName, "--timeout", "45s")
	if code != 0 {
		t.Fatalf("round %d: barrier exit %d after %s: %s%s", round, code, took, out, errOut)
	}
	if d := c.diffs([]string{"nfs2"}); len(d) > 0 {
		t.Fatalf("round %d: the barrier passed (%s) with the secondary not equal to the primary (%d differences):\n  %s",
			round, out, len(d), joinLimit(d, 40))
	}
}

func joinLimit(list []string, n int) string {
	out := ""
	for i, s := range limit(list, n) {
		if i > 0 {
			out += "\n  "
		}
		out += s
	}
	return out
}

// ackedSeq is the sequence the primary's status shows node acknowledged in
// folder.
func ackedSeq(t *testing.T, st report.Node, node, folder string) uint64 {
	t.Helper()
	i := slices.IndexFunc(st.Peers, func(p report.Peer) bool { return p.Node == node })
	if i < 0 {
		t.Fatalf("%s is not among the primary's peers", node)
	}
	for _, f := range st.Peers[i].Folders {
		if f.Folder == folder {
			return f.AckedSeq
		}
	}
	return 0
}

// checkAcked checks that every entry the secondary recorded as applied at
// a sequence it acknowledged (≤ acked) is on what the cut left of its
// folder (root): a file whole, at that version or a later one (the writer
// gives every version a later mtime), a deleted path absent (the writer
// never uses a name again), a directory present. A file the writer has
// removed since (deleted or renamed away) may be absent: its deletion may
// have been applied before the cut and not yet recorded. It returns the
// number of entries checked.
func checkAcked(t *testing.T, round int, sec *node, root string, acked uint64, removed func(string) bool) int {
	t.Helper()
	db, err := index.Open(filepath.Join(sec.stateDir, "index.db"), index.Options{})
	if err != nil {
		t.Fatalf("round %d: open the secondary's index: %v", round, err)
	}
	defer db.Close()
	n := 0
	err = db.Walk("data", "", func(e index.Entry) error {
		if e.Seq > acked {
			return nil
		}
		n++
		if msg := checkEntry(root, e); msg != "" && !(e.Kind == index.KindFile && removed(e.Path) && absent(root, e.Path)) {
			t.Errorf("round %d: acknowledged change lost at the power cut (acked %d): %q (seq %d): %s", round, acked, e.Path, e.Seq, msg)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: walk the secondary's index: %v", round, err)
	}
	return n
}

func checkEntry(root string, e index.Entry) string {
	p := filepath.Join(root, filepath.FromSlash(e.Path))
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	switch {
	case e.Deleted && errors.Is(err, unix.ENOENT):
		return ""
	case e.Deleted:
		return fmt.Sprintf("deleted, but still there (%v)", err)
	case err != nil:
		return err.Error()
	case e.Kind == index.KindDir:
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Sprintf("not a directory: mode %#o", st.Mode)
		}
		return ""
	case e.Kind != index.KindFile:
		return ""
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Sprintf("not a file: mode %#o", st.Mode)
	case st.Mtim.Nano() > e.MtimeNs:
		// A later version, applied before the cut but not yet recorded:
		// it must be whole.
		if err := checkWriterFile(p); err != nil {
			return "a later version, damaged: " + err.Error()
		}
		return ""
	case st.Mtim.Nano() < e.MtimeNs:
		return fmt.Sprintf("an older version: mtime %s, acknowledged %s", showNs(st.Mtim.Nano()), showNs(e.MtimeNs))
	case st.Size != e.Size:
		return fmt.Sprintf("size %d, acknowledged %d", st.Size, e.Size)
	case st.Mode&0o7777 != e.Mode:
		return fmt.Sprintf("mode %#o, acknowledged %#o", st.Mode&0o7777, e.Mode)
	}
	return checkChunks(p, e)
}

// checkChunks compares the file's bytes with the entry's chunk ids.
func checkChunks(p string, e index.Entry) string {
	f, err := os.Open(p)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	for k, ref := range e.Chunks {
		buf := make([]byte, ref.Size)
		if _, err := io.ReadFull(f, buf); err != nil {
			return fmt.Sprintf("chunk %d: %v", k, err)
		}
		if chunker.Sum(buf) != ref.ID {
			return fmt.Sprintf("chunk %d differs from the acknowledged version", k)
		}
	}
	return ""
}

// powerWriter changes the primary's tree while it runs: it creates files,
// rewrites them, renames and deletes them, never using a name twice, and
// gives every version a later mtime than any before. Every file holds the
// SHA-256 of the rest of its bytes first, so that a damaged file shows.
type powerWriter struct {
	root string
	rng  *rand.Rand

	mu      sync.Mutex
	live    []string        // relative paths of the files that exist
	gone    map[string]bool // relative paths of the files removed
	next    int             // next file number
	clock   int64           // mtime of the last version written
	ops     int
	stopped chan struct{}
	done    chan struct{}
}

// powerWriterFiles bounds the files alive at once: the trees stay small
// enough to compare at every round.
const powerWriterFiles = 300

func newPowerWriter(root string, seed uint64) *powerWriter {
	return &powerWriter{root: root, gone: map[string]bool{}, rng: rand.New(rand.NewPCG(seed, 3)), clock: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
}

func (w *powerWriter) start() {
	w.stopped, w.done = make(chan struct{}), make(chan struct{})
	go w.run()
}

// stop waits for the change in progress and stops.
func (w *powerWriter) stop() {
	close(w.stopped)
	<-w.done
}

func (w *powerWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stopped:
			return
		case <-time.After(2 * time.Millisecond):
		}
		if err := w.step(); err != nil {
			panic(fmt.Sprintf("power-loss writer: %v", err))
		}
	}
}

func (w *powerWriter) step() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ops++
	r := w.rng.IntN(100)
	switch {
	case len(w.live) < 20 || r < 40 && len(w.live) < powerWriterFiles:
		rel := fmt.Sprintf("d%02d/f%06d", w.next%16, w.next)
		w.next++
		w.live = append(w.live, rel)
		return w.write(rel)
	case r < 75:
		return w.write(w.live[w.rng.IntN(len(w.live))])
	case r < 85:
		i := w.rng.IntN(len(w.live))
		rel := fmt.Sprintf("d%02d/f%06d", w.next%16, w.next)
		w.next++
		if err := os.Rename(filepath.Join(w.root, w.live[i]), filepath.Join(w.root, rel)); err != nil {
			return err
		}
		w.gone[w.live[i]] = true
		w.live[i] = rel
		return nil
	default:
		i := w.rng.IntN(len(w.live))
		if err := os.Remove(filepath.Join(w.root, w.live[i])); err != nil {
			return err
		}
		w.gone[w.live[i]] = true
		w.live = slices.Delete(w.live, i, i+1)
		return nil
	}
}

// removed reports whether the writer deleted rel or renamed it away.
func (w *powerWriter) removed(rel string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone[rel]
}

func absent(root, rel string) bool {
	_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
	return errors.Is(err, os.ErrNotExist)
}

// write writes a new version of rel: mostly small files, some of a few
// hundred KiB (several chunks).
func (w *powerWriter) write(rel string) error {
	size := 32 + w.rng.IntN(16*kiB)
	if w.rng.IntN(10) == 0 {
		size = 64*kiB + w.rng.IntN(512*kiB)
	}
	body := make([]byte, size)
	for i := 0; i < size; i += 8 {
		v := w.rng.Uint64()
		for k := 0; k < 8 && i+k < size; k++ {
			body[i+k] = byte(v >> (8 * k))
		}
	}
	sum := sha256.Sum256(body[sha256.Size:])
	copy(body, sum[:])
	p := filepath.Join(w.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, body, 0o644); err != nil {
		return err
	}
	w.clock += int64(time.Millisecond) + int64(w.rng.IntN(1000))
	mt := time.Unix(0, w.clock)
	return os.Chtimes(p, mt, mt)
}

// checkWriterFile checks a file written by powerWriter is whole.
func checkWriterFile(p string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if len(b) < sha256.Size {
		return fmt.Errorf("%d bytes", len(b))
	}
	if sha256.Sum256(b[sha256.Size:]) != [sha256.Size]byte(b[:sha256.Size]) {
		return errors.New("content does not match its checksum")
	}
	return nil
}
