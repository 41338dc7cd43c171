package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// ScenarioSecondaries copies the webroot from one primary to N
// secondaries at once (Options.Secondaries), each in a network namespace
// of its own when running as root: what the primary's CPU and memory cost
// per secondary. ncsync only; it runs when named.
const ScenarioSecondaries = "secondaries"

// DefaultSecondaries are the fan-outs the secondaries scenario measures.
var DefaultSecondaries = []int{1, 4, 8}

// secondaryName is the node name of the i-th secondary (from 0).
func secondaryName(i int) string {
	if i == 0 {
		return secondaryNode
	}
	return fmt.Sprintf("nfs%d", i+2)
}

// fanoutPoll is how often the primary's status is asked for: it costs the
// primary time in proportion to the lag, and only the primary knows every
// secondary's position.
const fanoutPoll = 200 * time.Millisecond

// fanoutWorkload names the secondaries scenario's row for n secondaries.
func fanoutWorkload(n int) string { return fmt.Sprintf("webroot to %d", n) }

// secondariesScenario measures the initial webroot copy to each number of
// secondaries in Options.Secondaries, Runs times.
func (h *harness) secondariesScenario(ctx context.Context) error {
	src, m, err := h.tree(h.o.Spec)
	if err != nil {
		return err
	}
	files, dirs, bytes := m.Under(TextDir)
	src = filepath.Join(src, TextDir)
	for _, n := range h.o.Secondaries {
		row := Row{Scenario: ScenarioSecondaries, Workload: fanoutWorkload(n), Tool: ToolNcsync, Files: files, Dirs: dirs, Bytes: bytes,
			Note: "source: the primary alone; target: every secondary together"}
		for r := range h.o.Runs {
			h.logf("secondaries: initial webroot (%d files, %s) to %d secondaries, run %d/%d", files, report.HumanBytes(bytes), n, r+1, h.o.Runs)
			dir, done, err := h.runDir(fmt.Sprintf("fanout-%d-%d", n, r+1))
			if err != nil {
				return err
			}
			if dropCaches() {
				if err := warm(src); err != nil {
					return err
				}
			}
			s, err := h.fanoutOnce(ctx, src, dir, n)
			done(err != nil && ctx.Err() == nil)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.Equal, s.Error = false, err.Error()
				h.logf("  failed: %v", err)
			} else {
				h.logf("  %.2f s; primary %.2f CPU s, peak RSS %s; secondaries %.2f CPU s; %s to the targets",
					s.Wall, s.CPUSource, report.HumanBytes(s.PeakRSSSource), s.CPUTarget, report.HumanBytes(s.WireToTarget))
			}
			row.Runs = append(row.Runs, s)
		}
		row.summarize()
		h.report.Rows = append(h.report.Rows, row)
	}
	return nil
}

// fanoutOnce starts a primary and n secondaries on empty targets and
// measures until every secondary has acknowledged the primary's head and
// every target compares equal.
func (h *harness) fanoutOnce(ctx context.Context, src, dir string, n int) (Sample, error) {
	nr := h.ncsync
	for i := range n {
		if err := ensureCert(ctx, nr.bin, nr.pki, secondaryName(i)); err != nil {
			return Sample{}, err
		}
	}
	nets := []*targetNet{h.tn}
	defer func() {
		for _, tn := range nets[1:] {
			tn.teardown()
		}
	}()
	for i := 1; i < n; i++ {
		tn := &targetNet{disabled: h.tn.disabled}
		if h.tn.netns() {
			tn = setupTargetNetN(i)
			if tn.disabled != "" {
				return Sample{}, fmt.Errorf("network namespace of secondary %d: %s", i+1, tn.disabled)
			}
		}
		nets = append(nets, tn)
		if err := tn.shape(h.o.Link); err != nil {
			return Sample{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, nr.timeout)
	defer cancel()
	var w0t, w0s int64 // the counters' start (the first pair is the harness's)
	for _, tn := range nets {
		if tn.netns() {
			t, s := tn.counters()
			w0t, w0s = w0t+t, w0s+s
		}
	}
	start := time.Now()
	f, err := startFanout(nr, src, dir, nets)
	if f != nil {
		defer f.stop()
	}
	if err != nil {
		return Sample{}, err
	}
	pcl, err := dialControl(ctx, &cluster{primary: f.primary, secondary: f.secondaries[0]}, f.primary)
	if err != nil {
		return Sample{}, err
	}
	defer pcl.Close()
	var names []string
	for i := range n {
		names = append(names, secondaryName(i))
	}
	var last report.Node
	for {
		st, err := statusOf(ctx, pcl)
		if err == nil {
			last = st
			if caughtUpNodes(st, names) {
				break
			}
		}
		if err := f.running(); err != nil {
			return Sample{}, err
		}
		select {
		case <-ctx.Done():
			return Sample{}, notConsistent(ctx, nr.timeout, last, nil)
		case <-time.After(fanoutPoll):
		}
	}
	s := Sample{Wall: time.Since(start).Seconds(), Equal: true}
	ps, err := readProc(f.primary.Pid())
	if err != nil {
		return s, err
	}
	s.CPUSource, s.PeakRSSSource, s.RSSSource, s.AnonSource = ps.CPU.Seconds(), ps.HWM, ps.RSS, ps.Anon
	for i, d := range f.secondaries {
		ss, err := readProc(d.Pid())
		if err != nil {
			return s, err
		}
		s.CPUTarget += ss.CPU.Seconds()
		s.PeakRSSTarget += ss.HWM
		if nets[i].netns() {
			t, back := nets[i].counters()
			s.WireToTarget += t
			s.WireToSource += back
		} else {
			up, down := f.proxies[i].Bytes()
			s.WireToTarget += down
			s.WireToSource += up
		}
	}
	s.WireToTarget -= w0t
	s.WireToSource -= w0s
	for i := range f.secondaries {
		diffs, err := compareTreesWith(src, f.targets[i], true, 5, ncsyncCompare)
		if err == nil && len(diffs) > 0 {
			err = fmt.Errorf("%s's target differs: %v", secondaryName(i), diffs)
		}
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

// fanout is a primary with several secondaries, each dialing through a
// counting proxy of its own.
type fanout struct {
	primary     *Daemon
	secondaries []*Daemon
	proxies     []*Proxy
	targets     []string
}

func startFanout(nr ncsyncRun, src, dir string, nets []*targetNet) (*fanout, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	cs := clusterSpec{bin: nr.bin, pki: nr.pki, dir: dir, sockDir: nr.sockDir, scanInterval: nr.scanInterval, bandwidth: nr.bandwidth,
		profileDir: nr.profileDir}
	f := &fanout{}
	pc := cs.node(primaryNode, pki.RolePrimary, src)
	pc.Listen = listen
	for i := range nets {
		pc.Secondaries = append(pc.Secondaries, secondaryName(i))
	}
	os.Remove(pc.ControlSocket)
	if f.primary, err = startDaemon(nr.bin, dir, pc, nil, cs.profile(pc.Node)); err != nil {
		return f, err
	}
	for i, tn := range nets {
		name := secondaryName(i)
		dst := filepath.Join(dir, "target-"+name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return f, err
		}
		p, err := tn.startProxy(listen)
		if err != nil {
			return f, err
		}
		f.proxies = append(f.proxies, p)
		sc := cs.node(name, pki.RoleSecondary, dst)
		sc.Primary = primaryNode + "@" + p.Addr()
		os.Remove(sc.ControlSocket)
		d, err := startDaemon(nr.bin, dir, sc, tn, cs.profile(name))
		if err != nil {
			return f, err
		}
		f.secondaries = append(f.secondaries, d)
		f.targets = append(f.targets, dst)
	}
	return f, nil
}

// running reports an error if any daemon has exited.
func (f *fanout) running() error {
	errs := []error{f.primary.exited()}
	for _, d := range f.secondaries {
		errs = append(errs, d.exited())
	}
	return errors.Join(errs...)
}

// stop ends the secondaries, the primary and the proxies.
func (f *fanout) stop() {
	for _, d := range f.secondaries {
		d.stop()
	}
	f.primary.stop()
	for _, p := range f.proxies {
		p.Close()
	}
}

// ensureCert issues node's secondary certificate into pki unless it is
// there.
func ensureCert(ctx context.Context, bin, pki, node string) error {
	if _, err := os.Stat(filepath.Join(pki, node+".pem")); err == nil {
		return nil
	}
	return runNcsync(ctx, bin, "certs", "issue", "--dir", pki, "--node", node, "--role", "secondary")
}

// writeFanout prints the secondaries scenario: per number of secondaries,
// the primary's CPU and memory and their ratio to one secondary's.
func (r *Report) writeFanout(w io.Writer) {
	var rows []Row
	for _, row := range r.Rows {
		if row.Scenario == ScenarioSecondaries {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\ninitial webroot (%s files, %s) to N secondaries at once (ratios: ÷ the run with one)\n",
		thousands(int64(rows[0].Files)), report.HumanBytes(rows[0].Bytes))
	one := r.Find(ScenarioSecondaries, fanoutWorkload(1), ToolNcsync)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COPY\tRUNS\tWALL s\tPRIMARY CPU s\tPRIMARY PEAK RSS\tSECONDARIES CPU s\tTO THE TARGETS\tEQUAL\tPRIMARY CPU ×\tPRIMARY RSS ×")
	for _, row := range rows {
		m := row.Median
		if !row.measured() {
			fmt.Fprintf(tw, "%s\t%d\tFAILED\t\t\t\t\tno\t\t\n", row.Workload, len(row.Runs))
			continue
		}
		ratios := "-\t-"
		if one.measured() {
			ratios = ratio(m.CPUSource, one.Median.CPUSource) + "\t" + ratio(float64(m.PeakRSSSource), float64(one.Median.PeakRSSSource))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%s\t%.2f\t%s\t%s\t%s\n", row.Workload, len(row.Runs), m.Wall, m.CPUSource,
			report.HumanBytes(m.PeakRSSSource), m.CPUTarget, report.HumanBytes(m.WireToTarget), yesNo(m.Equal), ratios)
	}
	tw.Flush()
}

// fanoutTargets: the primary's CPU for the largest fan-out measured is at
// most 3 × its CPU for one secondary, and its peak RSS at most 1.5 ×.
func (r *Report) fanoutTargets() []TargetCheck {
	one := r.Find(ScenarioSecondaries, fanoutWorkload(1), ToolNcsync)
	var most *Row
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Scenario == ScenarioSecondaries && row.Workload != fanoutWorkload(1) {
			most = row
		}
	}
	if one == nil || most == nil {
		return nil
	}
	cpu := "secondaries: primary CPU for " + most.Workload + " ≤ 3 × for 1"
	rss := "secondaries: primary peak RSS for " + most.Workload + " ≤ 1.5 × for 1"
	if !one.measured() || !most.measured() {
		return []TargetCheck{{cpu, "not measured", nil}, {rss, "not measured", nil}}
	}
	a, b := most.Median, one.Median
	yes := func(v bool) *bool { return &v }
	return []TargetCheck{
		{cpu, fmt.Sprintf("%.2f CPU s vs %.2f: %.2f ×", a.CPUSource, b.CPUSource, a.CPUSource/b.CPUSource), yes(a.CPUSource <= 3*b.CPUSource)},
		{rss, fmt.Sprintf("%s vs %s: %.2f ×", report.HumanBytes(a.PeakRSSSource), report.HumanBytes(b.PeakRSSSource),
			float64(a.PeakRSSSource)/float64(b.PeakRSSSource)), yes(float64(a.PeakRSSSource) <= 1.5*float64(b.PeakRSSSource))},
	}
}
