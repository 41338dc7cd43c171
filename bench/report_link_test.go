package bench

import (
	"strings"
	"testing"
	"time"
)

func initialRow(load string, s Sample) Row {
	s.Equal = true
	row := Row{Scenario: ScenarioInitial, Workload: load, Tool: ToolNcsync, Runs: []Sample{s}}
	row.summarize()
	return row
}

// TestLinkTargets checks the verdicts read off a shaped run: the copy's
// wall against its bytes ÷ the link rate, its CPU against the unshaped
// baseline, the round-trip throughput, the bandwidth cap and the
// webroot's bytes on the wire against its raw chunk bytes.
func TestLinkTargets(t *testing.T) {
	const rate = 12_500_000 // 100 Mbit/s
	shaped := func(wall, cpu float64) Row {
		return initialRow("webroot", Sample{Wall: wall, WireToTarget: 25_000_000, ChunkBytesRaw: 125_000_000, CPUSource: cpu / 2, CPUTarget: cpu / 2})
	}
	base := initialRow("webroot"+UnshapedSuffix, Sample{Wall: 1, WireToTarget: 25_000_000, CPUSource: 1, CPUTarget: 1})
	verdicts := func(r *Report) map[string]bool {
		got := map[string]bool{}
		for _, c := range r.linkTargets() {
			if c.Met == nil {
				t.Fatalf("%s: not checked (%s)", c.Target, c.Got)
			}
			switch {
			case strings.Contains(c.Target, "wall ≤ 1.05"):
				got["fill"] = *c.Met
			case strings.Contains(c.Target, "CPU ≤ 1.2"):
				got["cpu"] = *c.Met
			case strings.Contains(c.Target, "90 %"):
				got["rtt"] = *c.Met
			case strings.Contains(c.Target, "limits.bandwidth"):
				got["cap"] = *c.Met
			case strings.Contains(c.Target, "raw chunk bytes"):
				got["compressed"] = *c.Met
			}
		}
		return got
	}
	for _, tt := range []struct {
		name string
		r    Report
		want map[string]bool
	}{
		// 25 MB at 12.5 MB/s is 2 s: 2.1 s is the edge, 2.3 s too slow.
		{"fills the link", Report{Link: Link{Rate: rate}, Rows: []Row{shaped(2.1, 2.4), base}}, map[string]bool{"fill": true, "cpu": true, "compressed": true}},
		{"slow and spinning", Report{Link: Link{Rate: rate}, Rows: []Row{shaped(2.3, 2.5), base}}, map[string]bool{"fill": false, "cpu": false, "compressed": true}},
		{"with an RTT", Report{Link: Link{Rate: rate, RTT: 1e8}, Rows: []Row{shaped(2.3, 2), base}}, map[string]bool{"fill": false, "cpu": true, "rtt": false, "compressed": true}},
		// A slow start and end do not hide a transfer that ran at 92 %
		// of the link.
		{"steady with an RTT", Report{Link: Link{Rate: rate, RTT: 1e8}, Rows: []Row{
			initialRow("webroot", Sample{Wall: 2.3, WireToTarget: 25_000_000, ChunkBytesRaw: 100_000_000, SteadyRate: 11_500_000, CPUSource: 1, CPUTarget: 1}), base}},
			map[string]bool{"fill": false, "cpu": true, "rtt": true, "compressed": false}},
		{"at the cap", Report{NcsyncBandwidth: 10_000_000, Rows: []Row{shaped(2.5, 2)}}, map[string]bool{"cap": true}},
		{"under the cap", Report{NcsyncBandwidth: 10_000_000, Rows: []Row{shaped(3, 2)}}, map[string]bool{"cap": false}},
		{"over the cap", Report{NcsyncBandwidth: 10_000_000, Rows: []Row{shaped(2.2, 2)}}, map[string]bool{"cap": false}},
		// The steady rate, when traced, is what counts: a slow start does
		// not make a capped copy miss.
		{"steady at the cap", Report{NcsyncBandwidth: 10_000_000, Rows: []Row{initialRow("data", Sample{Wall: 4, WireToTarget: 25_000_000, SteadyRate: 10_200_000})}}, map[string]bool{"cap": true}},
		{"steady over the cap", Report{NcsyncBandwidth: 10_000_000, Rows: []Row{initialRow("data", Sample{Wall: 2.5, WireToTarget: 25_000_000, SteadyRate: 12_000_000})}}, map[string]bool{"cap": false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := verdicts(&tt.r)
			if len(got) != len(tt.want) {
				t.Fatalf("verdicts %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: met %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// TestFanoutTargets checks the primary's cost at the largest fan-out
// against one secondary's.
func TestFanoutTargets(t *testing.T) {
	row := func(n int, cpu float64, rss int64) Row {
		r := Row{Scenario: ScenarioSecondaries, Workload: fanoutWorkload(n), Tool: ToolNcsync,
			Runs: []Sample{{Wall: 1, CPUSource: cpu, PeakRSSSource: rss, Equal: true}}}
		r.summarize()
		return r
	}
	for _, tt := range []struct {
		name     string
		rows     []Row
		cpu, rss bool
	}{
		{"cheap", []Row{row(1, 2, 100), row(4, 4, 120), row(8, 6, 150)}, true, true},
		{"linear", []Row{row(1, 2, 100), row(8, 16, 800)}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Rows: tt.rows}
			got := r.fanoutTargets()
			if len(got) != 2 || got[0].Met == nil || got[1].Met == nil {
				t.Fatalf("targets %+v", got)
			}
			if last := tt.rows[len(tt.rows)-1].Workload; !strings.Contains(got[0].Target, last) {
				t.Errorf("target %q does not name the largest fan-out %q", got[0].Target, last)
			}
			if *got[0].Met != tt.cpu || *got[1].Met != tt.rss {
				t.Errorf("cpu met %v, rss met %v; want %v, %v (%+v)", *got[0].Met, *got[1].Met, tt.cpu, tt.rss, got)
			}
		})
	}
}

// TestWireTraceSteady: a copy that idles for 5 s (its scan), sends
// 100 MB at 10 MB/s and then waits 3 s (its last commits) has a steady
// rate of 10 MB/s, though its average is 5.6 MB/s.
func TestWireTraceSteady(t *testing.T) {
	var tr wireTrace
	if tr.steady() != 0 {
		t.Fatal("an empty trace has a rate")
	}
	ms := time.Millisecond
	for at := time.Duration(0); at <= 18*time.Second; at += 50 * ms {
		var n int64
		switch {
		case at < 5*time.Second:
		case at < 15*time.Second:
			n = int64((at - 5*time.Second).Seconds() * 10e6)
		default:
			n = 100e6
		}
		tr.add(at, n)
	}
	if got := tr.steady(); got < 9.9e6 || got > 10.1e6 {
		t.Errorf("steady rate %.0f B/s, want 10 MB/s", got)
	}
}
