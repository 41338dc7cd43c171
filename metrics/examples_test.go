package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ncsync/ncsync/report"
)

// exported is every metric family name a node may export: ncsync's own
// from a primary's and a secondary's full reports and every event, and
// the Go and process collectors'.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	ev := NewEvents()
	ev.Scan("data", "paths", time.Millisecond, nil)
	ev.Barrier(time.Second, true, nil)
	names := map[string]bool{}
	for _, st := range []report.Node{primaryReport(), secondaryReport()} {
		for name := range gather(t, fakeSource{st: st}, ev) {
			names[name] = true
		}
	}
	return names
}

// metricRef matches what looks like a metric name in a PromQL expression.
var metricRef = regexp.MustCompile(`\b(?:ncsync|go|process)_[a-z0-9_]+\b`)

// unknownMetrics returns the metric names expr uses that no node exports
// (a histogram's _bucket, _sum and _count series count as its own).
func unknownMetrics(expr string, names map[string]bool) []string {
	var bad []string
	for _, ref := range metricRef.FindAllString(expr, -1) {
		base := ref
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(ref, suffix); ok && names[b] {
				base = b
			}
		}
		if !names[base] {
			bad = append(bad, ref)
		}
	}
	return bad
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

const alertsFile = "../examples/prometheus/alerts.yml"

// TestAlertRules checks the shipped alerting rules: each names only
// metrics a node exports, says how severe and what to do, and the alerts
// an operator needs are there. promtool checks the syntax where it is
// installed (tools/install-test-deps.sh fetches it).
func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	names := exported(t)
	var alerts []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("group %s: a rule without alert or expr: %+v", g.Name, r)
			}
			if bad := unknownMetrics(r.Expr, names); len(bad) > 0 {
				t.Errorf("alert %s uses metrics no node exports: %v", r.Alert, bad)
			}
			if !metricRef.MatchString(r.Expr) {
				t.Errorf("alert %s names no ncsync metric: %q", r.Alert, r.Expr)
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs labels.severity and annotations summary and description", r.Alert)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
		}
	}
	for _, want := range []string{"NcsyncSecondaryDisconnected", "NcsyncReplicationLagging", "NcsyncFolderDegraded", "NcsyncScanFailing", "NcsyncConflictStoreGrowing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("%s has no alert %s", alertsFile, want)
		}
	}

	t.Run("promtool", func(t *testing.T) {
		promtool := findPromtool()
		if promtool == "" {
			t.Skip("promtool is not installed (tools/install-test-deps.sh fetches it from Debian's prometheus package)")
		}
		out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool check rules: %v\n%s", err, out)
		}
	})
}

// findPromtool looks on PATH, then in the tools directory of
// tools/install-test-deps.sh.
func findPromtool() string {
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	dir := os.Getenv("NCSYNC_TOOLS")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(cache, "ncsync-tools")
	}
	p := filepath.Join(dir, "promtool")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// TestGrafanaDashboard checks that every query of the shipped dashboard
// names only metrics a node exports, and that together they show every
// metric of ncsync's own.
func TestGrafanaDashboard(t *testing.T) {
	const file = "../examples/grafana/ncsync.json"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("%s: no title or uid", file)
	}
	names := exported(t)
	used := map[string]bool{}
	check := func(where, expr string) {
		if bad := unknownMetrics(expr, names); len(bad) > 0 {
			t.Errorf("%s uses metrics no node exports: %v", where, bad)
		}
		for _, ref := range metricRef.FindAllString(expr, -1) {
			used[strings.TrimSuffix(ref, "_bucket")] = true
		}
	}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			check("variable query", q)
		}
	}
	for _, n := range Names() {
		if !used[n] && !notOnDashboard[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}

	t.Run("promtool", func(t *testing.T) {
		// The queries, with Grafana's variables filled in, as recording
		// rules: promtool parses each.
		promtool := findPromtool()
		if promtool == "" {
			t.Skip("promtool is not installed (tools/install-test-deps.sh fetches it from Debian's prometheus package)")
		}
		vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*", "$job", ".*")
		var b strings.Builder
		b.WriteString("groups:\n- name: dashboard\n  rules:\n")
		for i, e := range exprs {
			q, _ := json.Marshal(vars.Replace(e))
			fmt.Fprintf(&b, "  - record: dashboard:q%d\n    expr: %s\n", i, q)
		}
		rules := filepath.Join(t.TempDir(), "dashboard.yml")
		if err := os.WriteFile(rules, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
			t.Fatalf("promtool check rules (the dashboard's queries): %v\n%s", err, out)
		}
	})
}

// notOnDashboard are the metrics the dashboard leaves to alerts and ad-hoc
// queries: identity and timestamps, byte counts it shows otherwise, and
// how chunk lists travelled (whose cost the bytes panels show).
var notOnDashboard = map[string]bool{
	"ncsync_report_ok": true, "ncsync_epoch": true, "ncsync_peer_info": true, "ncsync_start_time_seconds": true,
	"ncsync_peer_last_seen_timestamp_seconds": true, "ncsync_pause_expires_timestamp_seconds": true,
	"ncsync_folder_bytes": true, "ncsync_entries_sent_bytes_total": true, "ncsync_entries_applied_bytes_total": true,
	"ncsync_chunk_list_deltas_total": true, "ncsync_chunk_lists_fetched_total": true,
	"ncsync_chunks_patched_total": true, "ncsync_chunk_patches_refused_total": true,
}

// TestDocumented checks that docs/metrics.md describes every metric.
func TestDocumented(t *testing.T) {
	data, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range Names() {
		if !strings.Contains(string(data), "`"+n+"`") {
			t.Errorf("docs/metrics.md does not describe %s", n)
		}
	}
}
