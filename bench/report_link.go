package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/ncsync/ncsync/report"
)

// WireRate is the achieved rate on the wire toward the target: bytes sent
// to the target side ÷ wall seconds (0 when not measured).
func (s Sample) WireRate() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(s.WireToTarget) / s.Wall
}

// linkTargets checks ncsync's initial copies against the emulated link
// and the bandwidth cap: the copy fills the link (wall ≤ 1.05 × its bytes
// toward the target ÷ the rate; with a round-trip time, ≥ 90 % of the
// link), waiting on the link costs no CPU (≤ 1.2 × the unshaped copy's in
// the same run), and a capped copy runs at the cap (0.95–1.05 ×).
func (r *Report) linkTargets() []TargetCheck {
	var out []TargetCheck
	yes := func(b bool) *bool { return &b }
	for _, row := range r.Rows {
		if row.Scenario != ScenarioInitial || row.Tool != ToolNcsync || strings.HasSuffix(row.Workload, UnshapedSuffix) {
			continue
		}
		m := row.Median
		at := fmt.Sprintf("initial %s at %s", row.Workload, r.Link)
		if rate := r.Link.Rate; rate > 0 && r.NcsyncBandwidth == 0 {
			target := at + ": wall ≤ 1.05 × bytes toward the target ÷ link rate"
			if !row.measured() {
				out = append(out, TargetCheck{target, "not measured", nil})
			} else {
				ideal := float64(m.WireToTarget) / float64(rate)
				out = append(out, TargetCheck{target, fmt.Sprintf("%.2f s vs %s ÷ %s = %.2f s: %.2f ×; %s/s on the wire, %.0f %% of the link",
					m.Wall, report.HumanBytes(m.WireToTarget), FormatRate(rate), ideal, m.Wall/ideal,
					report.HumanBytes(int64(m.WireRate())), 100*m.WireRate()/float64(rate)), yes(m.Wall <= 1.05*ideal)})
				if r.Link.RTT > 0 {
					got, how := m.SteadyRate, "while 10–90 % of the bytes crossed"
					if got == 0 {
						got, how = m.WireRate(), "over the whole copy"
					}
					out = append(out, TargetCheck{at + ": throughput ≥ 90 % of the link",
						fmt.Sprintf("%.0f %% %s (%.0f %% over the whole copy)", 100*got/float64(rate), how, 100*m.WireRate()/float64(rate)),
						yes(got >= 0.9*float64(rate))})
				}
			}
		}
		if r.Link.Rate > 0 && row.Workload == WorkloadWebroot {
			target := at + ": bytes on the wire ≤ 0.2 × the raw chunk bytes"
			if row.measured() && m.ChunkBytesRaw > 0 {
				ratio := float64(m.WireToTarget) / float64(m.ChunkBytesRaw)
				out = append(out, TargetCheck{target, fmt.Sprintf("%s toward the target for %s of chunks: %.3f ×",
					report.HumanBytes(m.WireToTarget), report.HumanBytes(m.ChunkBytesRaw), ratio), yes(ratio <= 0.2)})
			} else {
				out = append(out, TargetCheck{target, "not measured", nil})
			}
		}
		if r.Link.Shaped() {
			target := at + ": CPU ≤ 1.2 × the unshaped copy's"
			base := r.Find(ScenarioInitial, row.Workload+UnshapedSuffix, ToolNcsync)
			if row.measured() && base.measured() {
				b := base.Median
				out = append(out, TargetCheck{target, fmt.Sprintf("%.2f CPU s (%.2f+%.2f) vs %.2f (%.2f+%.2f) unshaped in %.2f s: %.2f ×",
					m.CPU(), m.CPUSource, m.CPUTarget, b.CPU(), b.CPUSource, b.CPUTarget, b.Wall, m.CPU()/b.CPU()), yes(m.CPU() <= 1.2*b.CPU())})
			} else {
				out = append(out, TargetCheck{target, "not measured", nil})
			}
		}
		if bw := r.NcsyncBandwidth; bw > 0 {
			target := fmt.Sprintf("initial %s with limits.bandwidth %.2f MB/s: 0.95–1.05 × the cap on the wire", row.Workload, float64(bw)/1e6)
			if !row.measured() {
				out = append(out, TargetCheck{target, "not measured", nil})
				continue
			}
			// The copy's pace, without the scan before its first chunk
			// and the commits after its last: the steady rate when traced.
			got, how := m.SteadyRate, "while 10–90 % of the bytes crossed"
			if got == 0 {
				got, how = m.WireRate(), "over the whole copy"
			}
			out = append(out, TargetCheck{target, fmt.Sprintf("%.2f MB/s %s: %.3f × (%.2f MB/s over the whole copy: %s in %.2f s)",
				got/1e6, how, got/float64(bw), m.WireRate()/1e6, report.HumanBytes(m.WireToTarget), m.Wall),
				yes(got >= 0.95*float64(bw) && got <= 1.05*float64(bw))})
		}
	}
	return out
}

// wireTrace is the bytes toward the target over time, sampled while a
// copy runs.
type wireTrace struct {
	at    []time.Duration
	bytes []int64
}

func (t *wireTrace) add(at time.Duration, n int64) {
	t.at, t.bytes = append(t.at, at), append(t.bytes, n)
}

// steady is the rate between the samples where 10 % and 90 % of the last
// sample's bytes had crossed: the copy's pace without its start (scan,
// connection) and its end (the last commits, the harness's polling);
// 0 with too few samples.
func (t *wireTrace) steady() float64 {
	if len(t.bytes) < 3 {
		return 0
	}
	total := t.bytes[len(t.bytes)-1]
	lo, hi := -1, -1
	for i, b := range t.bytes {
		if lo < 0 && b >= total/10 {
			lo = i
		}
		if hi < 0 && b >= total-total/10 {
			hi = i
		}
	}
	if lo < 0 || hi <= lo || t.at[hi] <= t.at[lo] {
		return 0
	}
	return float64(t.bytes[hi]-t.bytes[lo]) / (t.at[hi] - t.at[lo]).Seconds()
}
