package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ncsync/ncsync/report"
)

// WriteMarkdown prints the report as Markdown for the README: the run's
// setting, one table of every scenario's medians with ncsync's ratio to
// each peer, and the targets. Every number in it comes from r.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Run %s on %s: %d CPUs (%s), %s; seed %d.\n", r.Started.UTC().Format("2006-01-02 15:04 MST"),
		r.Host, r.CPUs, r.CPUModel, r.GoVersion, r.Seed)
	if r.Elapsed > 0 {
		fmt.Fprintf(w, "The run took %s; load average %s at its start, %s at its end (other work shared the machine).\n",
			time.Duration(r.Elapsed*float64(time.Second)).Round(time.Second), r.LoadStart, r.LoadEnd)
	}
	names := slices.Sorted(maps.Keys(r.Peers))
	var vs []string
	for _, n := range names {
		vs = append(vs, "`"+r.Peers[n]+"`")
	}
	if len(vs) > 0 {
		fmt.Fprintf(w, "Peers: %s.\n", strings.Join(vs, ", "))
	}
	if r.Command != "" {
		fmt.Fprintf(w, "Command: `%s`.\n", r.Command)
	}
	if r.Link.Shaped() {
		fmt.Fprintf(w, "Link: %s.\n", r.Link)
	}
	if r.Network != "" {
		fmt.Fprintf(w, "%s.\n", strings.ToUpper(r.Network[:1])+r.Network[1:])
	}
	var tools []string
	for _, t := range AllTools {
		if slices.ContainsFunc(r.Rows, func(row Row) bool { return row.Tool == t && row.Skipped == "" }) {
			tools = append(tools, t)
		}
	}
	var runs []string
	for _, t := range tools {
		var ini, ses int
		for _, row := range r.Rows {
			if row.Tool != t || row.Skipped != "" {
				continue
			}
			if row.Scenario == ScenarioInitial {
				ini = max(ini, len(row.Runs))
			} else if row.Scenario != ScenarioIdle {
				ses = max(ses, len(row.Runs))
			}
		}
		runs = append(runs, fmt.Sprintf("%s %d/%d", t, ini, ses))
	}
	fmt.Fprintf(w, "Runs per tool (initial copies/mutation suites): %s.\n", strings.Join(runs, ", "))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Medians; each peer's cell is its figure and, in brackets, ncsync's ÷ the peer's (below 1 favours ncsync).")
	fmt.Fprintln(w)
	head := []string{"scenario", "measure"}
	head = append(head, tools...)
	fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(head)))
	type measure struct {
		name string
		get  func(Sample) float64
		fmtv func(float64) string
	}
	secs := func(v float64) string { return fmt.Sprintf("%.2f s", v) }
	msecs := func(v float64) string { return fmt.Sprintf("%.3f s", v) }
	byt := func(v float64) string { return report.HumanBytes(int64(v)) }
	cpu := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	wall := measure{"wall", func(s Sample) float64 { return s.Wall }, secs}
	common := []measure{
		wall,
		{"on the wire", func(s Sample) float64 { return float64(s.Wire()) }, byt},
		{"CPU s (both sides)", func(s Sample) float64 { return s.CPU() }, cpu},
		{"peak RSS (both sides)", func(s Sample) float64 { return float64(s.PeakRSS()) }, byt},
	}
	for _, row := range r.comparedRows() {
		label := row.Scenario
		if row.Scenario == ScenarioInitial {
			label += fmt.Sprintf(" %s (%s files, %s)", row.Workload, thousands(int64(row.Files)), report.HumanBytes(row.Bytes))
		}
		ms := common
		peerScen := row.Scenario
		switch row.Scenario {
		case ScenarioLatency:
			ms = []measure{{"median", wall.get, msecs}, {"max", func(s Sample) float64 { return s.LatencyMax }, msecs}}
		case ScenarioBarrier:
			ms = []measure{{"wall (peers: their upgrade)", wall.get, secs}}
			peerScen = ScenarioUpgrade
		}
		if slices.Contains(tailScenarios, row.Scenario) {
			ms = append(slices.Clip(ms), measure{"after the last write", func(s Sample) float64 { return s.Tail }, func(v float64) string {
				if v == 0 {
					return "–" // not measured (a report from before the field)
				}
				return secs(v)
			}})
		}
		me := r.Find(row.Scenario, row.Workload, ToolNcsync)
		for i, m := range ms {
			cells := []string{"", m.name}
			if i == 0 {
				cells[0] = label
			}
			for _, t := range tools {
				scen := peerScen
				if t == ToolNcsync {
					scen = row.Scenario
				}
				x := r.Find(scen, row.Workload, t)
				switch {
				case x == nil || x.Skipped != "":
					cells = append(cells, "–")
				case !x.measured():
					cells = append(cells, "failed")
				case t == ToolNcsync || !me.measured():
					cells = append(cells, m.fmtv(m.get(x.Median)))
				default:
					cells = append(cells, fmt.Sprintf("%s (%s)", m.fmtv(m.get(x.Median)), ratio(m.get(me.Median), m.get(x.Median))))
				}
			}
			fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
		}
	}
	if ts := r.Checks; len(ts) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| target for ncsync | measured | verdict |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, t := range ts {
			verdict := "not checked"
			if t.Met != nil {
				verdict = map[bool]string{true: "met", false: "**missed**"}[*t.Met]
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", t.Target, t.Got, verdict)
		}
	}
}
