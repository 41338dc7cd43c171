package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ncsync/ncsync/report"
)

// WriteTable prints the report's medians: one table for the initial
// scenario (with ncsync's ratios to rsync from the same run), one for idle.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "ncsync bench %s on %s (%d CPUs, %s, %s), seed %d, initial copies: median of %d run(s)\n",
		r.Started.Format("2006-01-02 15:04 MST"), r.Host, r.CPUs, r.CPUModel, r.GoVersion, r.Seed, r.Runs)
	if r.Command != "" {
		fmt.Fprintf(w, "command: %s\n", r.Command)
	}
	if r.Link.Shaped() {
		fmt.Fprintf(w, "link: %s\n", r.Link)
	}
	if r.Elapsed > 0 {
		fmt.Fprintf(w, "took %s; load average (1, 5, 15 min) %s at the start, %s at the end\n",
			time.Duration(r.Elapsed*float64(time.Second)).Round(time.Second), r.LoadStart, r.LoadEnd)
	}
	names := slices.Sorted(maps.Keys(r.Peers))
	for _, n := range names {
		fmt.Fprintf(w, "peer %s: %s\n", n, r.Peers[n])
	}
	var failures []string
	initial := false
	for _, row := range r.Rows {
		initial = initial || row.Scenario == ScenarioInitial
	}
	if initial {
		fmt.Fprintln(w, "\ninitial copy into an empty target (ratios: tool ÷ rsync)")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCENARIO\tWORKLOAD\tTOOL\tRUNS\tWALL s\tON THE WIRE\tTO TARGET /s\tCPU s (src+dst)\tPEAK RSS (src+dst)\tEQUAL\tWALL ×\tWIRE ×\tCPU ×\tRSS ×")
		for _, row := range r.Rows {
			if row.Scenario != ScenarioInitial {
				continue
			}
			load := fmt.Sprintf("%s: %s files, %s", row.Workload, thousands(int64(row.Files)), report.HumanBytes(row.Bytes))
			if row.Skipped != "" {
				fmt.Fprintf(tw, "%s\t%s\t%s\t-\tskipped: %s\t\t\t\t\t\t\t\t\t\n", row.Scenario, load, row.Tool, row.Skipped)
				continue
			}
			m := row.Median
			if m.Error != "" && m.Wall == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\tFAILED\t\t\t\t\tno\t\t\t\t\n", row.Scenario, load, row.Tool, len(row.Runs))
				failures = append(failures, fmt.Sprintf("%s %s %s: %s", row.Scenario, row.Workload, row.Tool, m.Error))
				continue
			}
			ratios := "\t\t\t"
			if base := r.Find(row.Scenario, row.Workload, ToolRsync); row.Tool != ToolRsync && base != nil && base.Skipped == "" && base.Median.Wall > 0 {
				b := base.Median
				ratios = fmt.Sprintf("%s\t%s\t%s\t%s", ratio(m.Wall, b.Wall), ratio(float64(m.Wire()), float64(b.Wire())),
					ratio(m.CPU(), b.CPU()), ratio(float64(m.PeakRSS()), float64(b.PeakRSS())))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f\t%s\t%s\t%.2f (%.2f+%.2f)\t%s (%s+%s)\t%s\t%s\n",
				row.Scenario, load, row.Tool, len(row.Runs), m.Wall, report.HumanBytes(m.Wire()), report.HumanBytes(int64(m.WireRate())),
				m.CPU(), m.CPUSource, m.CPUTarget,
				report.HumanBytes(m.PeakRSS()), report.HumanBytes(m.PeakRSSSource), report.HumanBytes(m.PeakRSSTarget), yesNo(m.Equal), ratios)
			for _, s := range row.Runs {
				if s.Error != "" {
					failures = append(failures, fmt.Sprintf("%s %s %s: %s", row.Scenario, row.Workload, row.Tool, s.Error))
				}
			}
		}
		tw.Flush()
	}
	r.writeSuites(w, &failures)
	r.writeFanout(w)
	r.writeMillion(w)
	r.writeRatios(w)
	for _, row := range r.Rows {
		if row.Scenario != ScenarioIdle {
			continue
		}
		m := row.Median
		fmt.Fprintf(w, "\nidle: ncsync on %s files in %s dirs (%s), %s\n", thousands(int64(row.Files)), thousands(int64(row.Dirs)), report.HumanBytes(row.Bytes), row.Note)
		for _, s := range row.Runs {
			if s.Error != "" {
				failures = append(failures, fmt.Sprintf("%s %s: %s", row.Scenario, row.Tool, s.Error))
			}
		}
		if m.IdleWindow == 0 {
			fmt.Fprintln(w, "FAILED")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tRUNS\tCPU % OF ONE CORE\tRSS\tOF WHICH ANON\tPEAK RSS\tANON PER FILE")
		perFile := func(b int64) string {
			if row.Files == 0 {
				return "-"
			}
			return report.HumanBytes(b / int64(row.Files))
		}
		fmt.Fprintf(tw, "primary\t%d\t%.2f\t%s\t%s\t%s\t%s\n", len(row.Runs), m.IdleCPUSource, report.HumanBytes(m.RSSSource),
			report.HumanBytes(m.AnonSource), report.HumanBytes(m.PeakRSSSource), perFile(m.AnonSource))
		fmt.Fprintf(tw, "secondary\t%d\t%.2f\t%s\t%s\t%s\t%s\n", len(row.Runs), m.IdleCPUTarget, report.HumanBytes(m.RSSTarget),
			report.HumanBytes(m.AnonTarget), report.HumanBytes(m.PeakRSSTarget), perFile(m.AnonTarget))
		tw.Flush()
		fmt.Fprintf(w, "initial copy of this tree until equal: %.2f s, %.2f CPU s (%.2f+%.2f), %s on the wire; at rest %s on the wire; equal %s\n",
			m.Wall, m.CPU(), m.CPUSource, m.CPUTarget, report.HumanBytes(m.Wire()), report.HumanBytes(m.IdleWire), yesNo(m.Equal))
	}
	r.writeTargets(w)
	if len(failures) > 0 {
		fmt.Fprintln(w, "\nfailures:")
		for _, f := range failures {
			fmt.Fprintln(w, "  "+oneLine(f))
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "  - "+n)
		}
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// comparedRows returns the first row of each scenario and workload, the
// idle scenario left out: one per line of the comparisons.
func (r *Report) comparedRows() []Row {
	var rows []Row
	seen := map[string]bool{}
	for _, row := range r.Rows {
		key := row.Scenario + "/" + row.Workload
		if row.Scenario == ScenarioIdle || row.Scenario == ScenarioMillion || row.Scenario == ScenarioSecondaries || seen[key] {
			continue
		}
		seen[key] = true
		rows = append(rows, row)
	}
	return rows
}
