package bench

import "fmt"

// tailScenarios are the mutation scenarios whose writer runs long enough
// for a continuous tool to fall behind it: for them the report gives the
// time from the last write until the target is verified equal (Sample.Tail)
// beside an rsync daemon run started at that moment.
var tailScenarios = []string{ScenarioUpgrade, ScenarioBurst}

// TailRatio is the target for Tail: ncsync's at most this fraction of the
// rsync daemon run's in the same bench run.
const TailRatio = 0.5

// tailTargets checks ncsync's time after the last write of each tail
// scenario of the suite tree against rsync's.
func (r *Report) tailTargets(suite string) []TargetCheck {
	if suite == "" {
		return nil
	}
	var out []TargetCheck
	for _, scen := range tailScenarios {
		me := r.Find(scen, suite, ToolNcsync)
		if me == nil {
			continue
		}
		c := TargetCheck{Target: fmt.Sprintf("%s: consistent after the last write ≤ %.1f × an rsync daemon run started then", scen, TailRatio)}
		rs := r.Find(scen, suite, ToolRsync)
		switch {
		case !me.measured() || me.Median.Tail <= 0:
			c.Got = "not measured (ncsync)"
		case !rs.measured() || rs.Median.Tail <= 0:
			c.Got = fmt.Sprintf("%.2f s; rsync not measured", me.Median.Tail)
		default:
			a, b := me.Median.Tail, rs.Median.Tail
			met := a <= TailRatio*b
			c.Got, c.Met = fmt.Sprintf("%.2f s vs rsync %.2f s: %.2f ×", a, b, a/b), &met
		}
		out = append(out, c)
	}
	return out
}
