package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/report"
)

// pollInterval is how often the harness asks the secondary for its status
// while waiting for consistency; it bounds the wall-time resolution.
// primaryPollInterval is how often it asks the primary meanwhile.
const (
	pollInterval        = 50 * time.Millisecond
	primaryPollInterval = time.Second
)

// ncsyncRun is the shared setup of ncsync runs.
type ncsyncRun struct {
	bin, pki, sockDir string
	scanInterval      time.Duration
	timeout           time.Duration
	profileDir        string     // CPU profiles of the daemons; "" for none
	bandwidth         string     // the primary's limits.bandwidth; "" for none
	tn                *targetNet // where the secondary runs
	// progress, when set, gets a line every progressEvery while waiting.
	progress func(format string, args ...any)
}

const progressEvery = 10 * time.Second

// consistent is what the harness saw when the target became equal.
type consistent struct {
	wall               time.Duration
	primary, secondary procSample
	toTarget, toSource int64
	steady             float64 // bytes/s toward the target, 10–90 % of them
	status             report.Node
}

// initial copies src into an empty target with a fresh primary and
// secondary and measures until the target is verified equal.
func (n ncsyncRun) initial(ctx context.Context, src, dir string) (Sample, error) {
	c, got, err := n.startAndWait(ctx, src, dir)
	if c != nil {
		c.stop()
	}
	if err != nil {
		return Sample{}, err
	}
	return n.sample(got), nil
}

// idle brings a fresh cluster to consistency on src, then measures both
// daemons over window without talking to them.
func (n ncsyncRun) idle(ctx context.Context, src, dir string, window time.Duration) (Sample, error) {
	c, got, err := n.startAndWait(ctx, src, dir)
	if err != nil {
		if c != nil {
			c.stop()
		}
		return Sample{}, err
	}
	defer c.stop()
	s := n.sample(got)
	before, err := readBoth(c)
	if err != nil {
		return s, err
	}
	meter := n.meter(c)
	t0, s0 := meter.read()
	start := time.Now()
	select {
	case <-ctx.Done():
		return s, ctx.Err()
	case <-time.After(window):
	}
	after, err := readBoth(c)
	if err != nil {
		return s, err
	}
	el := time.Since(start)
	t1, s1 := meter.read()
	pct := func(a, b procSample) float64 { return 100 * (b.CPU - a.CPU).Seconds() / el.Seconds() }
	s.IdleWindow = el.Seconds()
	s.IdleCPUSource, s.IdleCPUTarget = pct(before[0], after[0]), pct(before[1], after[1])
	s.RSSSource, s.RSSTarget = after[0].RSS, after[1].RSS
	s.AnonSource, s.AnonTarget = after[0].Anon, after[1].Anon
	s.PeakRSSSource, s.PeakRSSTarget = after[0].HWM, after[1].HWM
	s.IdleWire = t1 - t0 + s1 - s0
	if err := c.running(); err != nil {
		return s, err
	}
	return s, nil
}

func (n ncsyncRun) sample(got consistent) Sample {
	s := Sample{
		Wall:         got.wall.Seconds(),
		WireToTarget: got.toTarget, WireToSource: got.toSource,
		CPUSource: got.primary.CPU.Seconds(), CPUTarget: got.secondary.CPU.Seconds(),
		PeakRSSSource: got.primary.HWM, PeakRSSTarget: got.secondary.HWM,
		SteadyRate: got.steady, Equal: true,
	}
	for _, p := range got.status.Peers {
		s.ToolBytes += int64(p.BytesSent + p.BytesReceived)
		s.ChunkBytesRaw += int64(p.ChunkBytesRaw)
	}
	return s
}

// startAndWait starts a cluster replicating src into dir/target and waits
// until the primary reports the secondary caught up and the trees compare
// equal. The cluster is returned (to be stopped by the caller) even on error.
func (n ncsyncRun) startAndWait(ctx context.Context, src, dir string) (*cluster, consistent, error) {
	dst := filepath.Join(dir, "target")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, consistent{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	w0t, w0s := wireMeter{tn: n.tn}.read()
	start := time.Now()
	c, err := startCluster(clusterSpec{bin: n.bin, pki: n.pki, dir: dir, sockDir: n.sockDir,
		src: src, dst: dst, scanInterval: n.scanInterval, tn: n.tn, profileDir: n.profileDir, bandwidth: n.bandwidth})
	if err != nil {
		return nil, consistent{}, err
	}
	meter := n.meter(c)
	pcl, err := dialControl(ctx, c, c.primary)
	if err != nil {
		return c, consistent{}, err
	}
	defer pcl.Close()
	scl, err := dialControl(ctx, c, c.secondary)
	if err != nil {
		return c, consistent{}, err
	}
	defer scl.Close()
	var (
		lastDiffs    []string
		last         report.Node // the primary's latest status
		lastPrimary  time.Time
		lastProgress = time.Now()
		trace        wireTrace
		answered     bool // the primary has answered a status call
	)
	for {
		// The secondary's status is cheap; the primary's costs it time in
		// proportion to the lag (it sums the bytes not yet acknowledged), so
		// it is asked once a second, or when the secondary seems done.
		if t, _ := meter.read(); true {
			trace.add(time.Since(start), t-w0t)
		}
		ask := time.Since(lastPrimary) >= primaryPollInterval
		if sst, err := statusOf(ctx, scl); err == nil && reached(sst, last) {
			ask = true
		}
		if ask {
			st, err := statusOf(ctx, pcl)
			lastPrimary = time.Now()
			switch {
			case err != nil && !answered:
				// The control socket answers before the daemon has set
				// up its role ("the daemon is starting"): ask again at
				// the next poll; an exit shows in c.running.
				lastPrimary = time.Time{}
			case err != nil && ctx.Err() == nil:
				return c, consistent{}, fmt.Errorf("status of %s: %w", primaryNode, err)
			case err == nil && caughtUp(st):
				got := consistent{wall: time.Since(start), status: st}
				got.toTarget, got.toSource = meter.read()
				got.toTarget, got.toSource = got.toTarget-w0t, got.toSource-w0s
				got.steady = trace.steady()
				procs, err := readBoth(c)
				if err != nil {
					return c, consistent{}, err
				}
				got.primary, got.secondary = procs[0], procs[1]
				diffs, err := compareTreesWith(src, dst, false, 5, ncsyncCompare)
				if err == nil && len(diffs) == 0 {
					diffs, err = compareTreesWith(src, dst, true, 5, ncsyncCompare)
				}
				if err == nil && len(diffs) == 0 {
					return c, got, nil
				}
				if err != nil {
					diffs = []string{err.Error()}
				}
				lastDiffs = diffs
			}
			if err == nil {
				last, answered = st, true
			}
		}
		if n.progress != nil && time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			n.progress("  waiting %s: %s", time.Since(start).Round(time.Second), progressLine(last, c))
		}
		if err := c.running(); err != nil {
			return c, consistent{}, err
		}
		select {
		case <-ctx.Done():
			err := notConsistent(ctx, n.timeout, last, lastDiffs)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				c.dumpStacks()
				err = fmt.Errorf("%w; goroutine dumps in %q and %q", err, c.primary.Log, c.secondary.Log)
			}
			return c, consistent{}, err
		case <-time.After(pollInterval):
		}
	}
}

// meter reads the bytes on the wire of c: the veth's counters, or its
// proxy's (the secondary dials, so "up" is toward the primary).
func (n ncsyncRun) meter(c *cluster) wireMeter {
	return wireMeter{tn: n.tn, proxy: func() (int64, int64) {
		up, down := c.proxy.Bytes()
		return down, up
	}}
}

// statusOf asks for a daemon's status. The call's own deadline is not the
// run's: when the run times out, the caller's loop must be the one to
// notice (and dump stacks).
func statusOf(ctx context.Context, cl *control.Client) (report.Node, error) {
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return cl.Status(callCtx)
}

// reached reports whether the secondary has applied every folder up to the
// head the primary last reported (after a full scan).
func reached(sec, prim report.Node) bool {
	heads := make(map[string]uint64)
	for _, f := range prim.Folders {
		if f.Scans == 0 || f.Seq == 0 {
			return false
		}
		heads[f.ID] = f.Seq
	}
	if len(heads) == 0 {
		return false
	}
	for _, f := range sec.Folders {
		if h, ok := heads[f.ID]; ok && f.Seq >= h {
			delete(heads, f.ID)
		}
	}
	return len(heads) == 0
}

// progressLine summarizes how far the secondary is.
func progressLine(st report.Node, c *cluster) string {
	var b strings.Builder
	for _, f := range st.Folders {
		fmt.Fprintf(&b, "head %d (%d files, scans %d)", f.Seq, f.Files, f.Scans)
	}
	for _, p := range st.Peers {
		for _, pf := range p.Folders {
			fmt.Fprintf(&b, ", %s acked %d (connected %v)", p.Node, pf.AckedSeq, p.Connected)
		}
	}
	up, down := c.proxy.Bytes()
	fmt.Fprintf(&b, ", %s on the wire", report.HumanBytes(up+down))
	return b.String()
}

// caughtUp reports whether the primary has finished a scan of every folder
// and the secondary has acknowledged every folder's journal head.
func caughtUp(st report.Node) bool { return caughtUpNodes(st, []string{secondaryNode}) }

// caughtUpNodes is caughtUp for every secondary named in nodes.
func caughtUpNodes(st report.Node, nodes []string) bool {
	if len(st.Folders) == 0 {
		return false
	}
	heads := make(map[string]uint64)
	for _, f := range st.Folders {
		if f.Scans == 0 || f.Seq == 0 {
			return false
		}
		heads[f.ID] = f.Seq
	}
	done := 0
	for _, p := range st.Peers {
		if !slices.Contains(nodes, p.Node) {
			continue
		}
		acked := 0
		for _, pf := range p.Folders {
			if pf.AckedSeq < heads[pf.Folder] {
				return false
			}
			acked++
		}
		if acked != len(heads) {
			return false
		}
		done++
	}
	return done == len(nodes)
}

func notConsistent(ctx context.Context, timeout time.Duration, st report.Node, diffs []string) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "not consistent after %s", timeout)
	for _, f := range st.Folders {
		fmt.Fprintf(&b, "; folder %s head %d (scans %d)", f.ID, f.Seq, f.Scans)
	}
	for _, p := range st.Peers {
		for _, pf := range p.Folders {
			fmt.Fprintf(&b, "; %s acked %d lag %d entries", p.Node, pf.AckedSeq, pf.LagEntries)
		}
		if p.LastError != "" {
			fmt.Fprintf(&b, " (last error: %s)", p.LastError)
		}
	}
	if len(diffs) > 0 {
		fmt.Fprintf(&b, "; trees differ: %s", strings.Join(diffs, "; "))
	}
	return errors.New(b.String())
}

// dialControl connects to d's control socket once it exists.
func dialControl(ctx context.Context, c *cluster, d *Daemon) (*control.Client, error) {
	for {
		if _, err := os.Stat(d.Socket); err == nil {
			if cl, err := control.Dial(d.Socket); err == nil {
				return cl, nil
			}
		}
		if err := c.running(); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("control socket %q of %s: %w", d.Socket, d.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readBoth samples the primary and the secondary.
func readBoth(c *cluster) ([2]procSample, error) {
	var out [2]procSample
	var err error
	if out[0], err = readProc(c.primary.Pid()); err != nil {
		return out, err
	}
	out[1], err = readProc(c.secondary.Pid())
	return out, err
}
