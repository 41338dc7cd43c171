package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/ncsync/ncsync/report"
)

// peers are the tools ncsync is compared with, in table order.
var peers = []string{ToolRsync, ToolLsyncd, ToolLsyncd1s, ToolSyncthing, ToolSyncthing1s}

// continuousPeers follow changes by themselves (rsync is run by hand).
var continuousPeers = []string{ToolLsyncd, ToolLsyncd1s, ToolSyncthing, ToolSyncthing1s}

// measured reports whether row has a usable median.
func (row *Row) measured() bool {
	return row != nil && row.Skipped == "" && row.Median.Error == "" && row.Median.Wall > 0
}

// writeSuites prints every mutation scenario's row per tool.
func (r *Report) writeSuites(w io.Writer, failures *[]string) {
	var rows []Row
	for _, row := range r.Rows {
		if slices.Contains(mutationScenarios, row.Scenario) || row.Scenario == ScenarioBarrier {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nmutations, each until the target is verified equal again (tree %q: %s files, %s)\n",
		rows[0].Workload, thousands(int64(rows[0].Files)), report.HumanBytes(rows[0].Bytes))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tTOOL\tRUNS\tWALL s\tMUTATION s\tAFTER LAST WRITE s\tON THE WIRE\tCPU s (src+dst)\tPEAK RSS (src+dst)\tEQUAL")
	for _, row := range rows {
		if row.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\tskipped: %s\t\t\t\t\t\t\n", row.Scenario, row.Tool, oneLine(row.Skipped))
			continue
		}
		for _, s := range row.Runs {
			if s.Error != "" {
				*failures = append(*failures, fmt.Sprintf("%s %s: %s", row.Scenario, row.Tool, s.Error))
			}
		}
		m := row.Median
		if !row.measured() {
			fmt.Fprintf(tw, "%s\t%s\t%d\tFAILED\t\t\t\t\t\tno\n", row.Scenario, row.Tool, len(row.Runs))
			continue
		}
		wall := fmt.Sprintf("%.2f", m.Wall)
		if m.Passes > 1 {
			wall += fmt.Sprintf(" (%d passes)", m.Passes)
		}
		switch row.Scenario {
		case ScenarioLatency:
			wall = fmt.Sprintf("%.3f median, %.3f max", m.Wall, m.LatencyMax)
		case ScenarioBarrier:
			wall = fmt.Sprintf("%.2f (barrier call %.2f)", m.Wall, m.BarrierCall)
		}
		mut, tail := "-", "-"
		if m.Mutation > 0 {
			mut = fmt.Sprintf("%.2f", m.Mutation)
		}
		if m.Tail > 0 {
			tail = fmt.Sprintf("%.2f", m.Tail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%.2f (%.2f+%.2f)\t%s (%s+%s)\t%s\n",
			row.Scenario, row.Tool, len(row.Runs), wall, mut, tail, report.HumanBytes(m.Wire()),
			m.CPU(), m.CPUSource, m.CPUTarget,
			report.HumanBytes(m.PeakRSS()), report.HumanBytes(m.PeakRSSSource), report.HumanBytes(m.PeakRSSTarget), yesNo(m.Equal))
	}
	tw.Flush()
}

// writeRatios prints ncsync's figure per scenario and metric and its ratio
// to each peer's (ncsync ÷ peer: below 1 favours ncsync).
func (r *Report) writeRatios(w io.Writer) {
	type line struct {
		label        string
		scen, load   string
		get          func(Sample) float64
		fmtv         func(float64) string
		peerScenario string // barrier compares with the peers' upgrade
	}
	secs := func(v float64) string { return fmt.Sprintf("%.3f s", v) }
	cpu := func(v float64) string { return fmt.Sprintf("%.2f CPU s", v) }
	byt := func(v float64) string { return report.HumanBytes(int64(v)) }
	wall := func(s Sample) float64 { return s.Wall }
	wire := func(s Sample) float64 { return float64(s.Wire()) }
	cpus := func(s Sample) float64 { return s.CPU() }
	tail := func(s Sample) float64 { return s.Tail }
	var lines []line
	for _, row := range r.comparedRows() {
		name := row.Scenario
		if row.Scenario == ScenarioInitial {
			name += " " + row.Workload
		}
		switch row.Scenario {
		case ScenarioLatency:
			lines = append(lines,
				line{name + " median", row.Scenario, row.Workload, wall, secs, ""},
				line{name + " max", row.Scenario, row.Workload, func(s Sample) float64 { return s.LatencyMax }, secs, ""})
		case ScenarioBarrier:
			lines = append(lines, line{name + " wall (vs peers' upgrade)", row.Scenario, row.Workload, wall, secs, ScenarioUpgrade})
		default:
			lines = append(lines,
				line{name + " wall", row.Scenario, row.Workload, wall, secs, ""},
				line{name + " wire", row.Scenario, row.Workload, wire, byt, ""},
				line{name + " CPU", row.Scenario, row.Workload, cpus, cpu, ""})
			if slices.Contains(tailScenarios, row.Scenario) {
				lines = append(lines, line{name + " after the last write", row.Scenario, row.Workload, tail, secs, ""})
			}
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "\nncsync against each peer (ratio = ncsync ÷ peer, below 1 favours ncsync; - where either did not run)")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := []string{"MEASURE", "NCSYNC"}
	for _, p := range peers {
		head = append(head, "÷ "+p)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, l := range lines {
		me := r.Find(l.scen, l.load, ToolNcsync)
		cells := []string{l.label, "-"}
		if me.measured() {
			cells[1] = l.fmtv(l.get(me.Median))
		}
		for _, p := range peers {
			ps := l.scen
			if l.peerScenario != "" {
				ps = l.peerScenario
			}
			other := r.Find(ps, l.load, p)
			if !me.measured() || !other.measured() {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, ratio(l.get(me.Median), l.get(other.Median)))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// TargetCheck is one of ncsync's speed targets, checked on a report.
type TargetCheck struct {
	Target string `json:"target"`
	Got    string `json:"got"`
	// Met is nil when it could not be checked (a run is missing).
	Met *bool `json:"met"`
}

// ChunkBound is the "3 chunks plus metadata" of the bigedit and insert
// targets: three chunks of the chunker's average size (64 KiB) plus
// 64 KiB of metadata.
const ChunkBound = 3*64<<10 + 64<<10

// Targets checks ncsync's figures against its speed targets.
func (r *Report) Targets() []TargetCheck {
	var out []TargetCheck
	add := func(target, got string, met *bool) { out = append(out, TargetCheck{target, got, met}) }
	yes := func(b bool) *bool { return &b }
	best := func(scen, load string, tools []string, get func(Sample) float64) (float64, string) {
		v, who := 0.0, ""
		for _, t := range tools {
			if row := r.Find(scen, load, t); row.measured() && (who == "" || get(row.Median) < v) {
				v, who = get(row.Median), t
			}
		}
		return v, who
	}
	wall := func(s Sample) float64 { return s.Wall }
	suite := ""
	var initialLoads []string
	for _, row := range r.Rows {
		switch {
		case row.Scenario == ScenarioInitial && !slices.Contains(initialLoads, row.Workload) && !strings.HasSuffix(row.Workload, UnshapedSuffix):
			initialLoads = append(initialLoads, row.Workload)
		case slices.Contains(mutationScenarios, row.Scenario) || row.Scenario == ScenarioBarrier:
			suite = row.Workload
		}
	}
	if suite != "" {
		if me := r.Find(ScenarioLatency, suite, ToolNcsync); me != nil {
			b, who := best(ScenarioLatency, suite, peers, wall)
			switch {
			case !me.measured() || who == "":
				add("latency median ≤ 0.25 × the best peer's", "not measured (ncsync or every peer missing)", nil)
			default:
				add("latency median ≤ 0.25 × the best peer's",
					fmt.Sprintf("%.3f s vs %s %.3f s: %.2f ×", me.Median.Wall, who, b, me.Median.Wall/b), yes(me.Median.Wall <= 0.25*b))
			}
			if me.measured() {
				add("latency max ≤ 0.5 s", fmt.Sprintf("%.3f s", me.Median.LatencyMax), yes(me.Median.LatencyMax <= 0.5))
			}
		}
		for _, scen := range []string{ScenarioUpgrade, ScenarioBarrier} {
			me := r.Find(scen, suite, ToolNcsync)
			if me == nil {
				continue
			}
			target := scen + " ≤ 0.5 × the best continuous peer's upgrade time to consistency"
			b, who := best(ScenarioUpgrade, suite, continuousPeers, wall)
			if !me.measured() || who == "" {
				add(target, "not measured (ncsync or every continuous peer missing)", nil)
				continue
			}
			add(target, fmt.Sprintf("%.2f s vs %s %.2f s: %.2f ×", me.Median.Wall, who, b, me.Median.Wall/b), yes(me.Median.Wall <= 0.5*b))
		}
		for _, scen := range []string{ScenarioBigEdit, ScenarioInsert} {
			me := r.Find(scen, suite, ToolNcsync)
			if me == nil {
				continue
			}
			target := fmt.Sprintf("%s bytes on the wire ≤ 3 chunks plus metadata (%s) and ≤ rsync's", scen, report.HumanBytes(ChunkBound))
			if !me.measured() {
				add(target, "not measured", nil)
				continue
			}
			w := me.Median.Wire()
			got := report.HumanBytes(w)
			ok := w <= ChunkBound
			if rs := r.Find(scen, suite, ToolRsync); rs.measured() {
				got += fmt.Sprintf(" vs rsync %s", report.HumanBytes(rs.Median.Wire()))
				ok = ok && w <= rs.Median.Wire()
			} else {
				got += " (rsync not measured)"
			}
			add(target, got, yes(ok))
		}
	}
	for _, load := range initialLoads {
		me := r.Find(ScenarioInitial, load, ToolNcsync)
		if me == nil {
			continue
		}
		rs := r.Find(ScenarioInitial, load, ToolRsync)
		target := "initial " + load + ": wall ≤ rsync's"
		if me.measured() && rs.measured() {
			add(target, fmt.Sprintf("%.2f s vs %.2f s: %.2f ×", me.Median.Wall, rs.Median.Wall, me.Median.Wall/rs.Median.Wall), yes(me.Median.Wall <= rs.Median.Wall))
		} else {
			add(target, "not measured", nil)
		}
		target = "initial " + load + ": CPU ≤ 0.5 × Syncthing's"
		st := r.Find(ScenarioInitial, load, ToolSyncthing)
		if !st.measured() {
			st = r.Find(ScenarioInitial, load, ToolSyncthing1s)
		}
		if me.measured() && st.measured() {
			add(target, fmt.Sprintf("%.2f CPU s vs %s %.2f: %.2f ×", me.Median.CPU(), st.Tool, st.Median.CPU(), me.Median.CPU()/st.Median.CPU()),
				yes(me.Median.CPU() <= 0.5*st.Median.CPU()))
		} else {
			add(target, "not measured", nil)
		}
	}
	out = append(out, r.tailTargets(suite)...)
	out = append(out, r.linkTargets()...)
	out = append(out, r.fanoutTargets()...)
	return append(out, r.millionTargets()...)
}

// writeTargets prints the target checks.
func (r *Report) writeTargets(w io.Writer) {
	ts := r.Targets()
	if len(ts) == 0 {
		return
	}
	fmt.Fprintln(w, "\ntargets for ncsync")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range ts {
		verdict := "not checked"
		if t.Met != nil {
			verdict = map[bool]string{true: "met", false: "MISSED"}[*t.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", verdict, t.Target, t.Got)
	}
	tw.Flush()
}
