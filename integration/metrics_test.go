package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/ncsync/ncsync/metrics/metricstest"
)

// scrape reads addr's /metrics.
func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	return metricstest.Scrape("http://" + addr + "/metrics")
}

// TestMetrics scrapes a running primary and secondary: the values move as
// replication does. The secondary's lag rises on the primary while it is
// stopped and falls to zero once it has caught up; entries sent and
// applied, scans and barriers are counted.
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real daemons")
	}
	addrs := map[string]string{
		primaryName: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"nfs2":      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	c := newCluster(t, clusterOptions{extraConfig: func(name string) string {
		return "metrics_listen: " + addrs[name] + "\n"
	}})
	c.start(primaryName)
	c.start("nfs2")
	data := c.tree(primaryName, "data")
	for i := range 20 {
		writeFile(t, filepath.Join(data, fmt.Sprintf("f%02d.txt", i)), []byte(strings.Repeat("x", 1000+i)), 0o644)
	}
	c.waitConsistent(t.Context(), "nfs2")

	// get scrapes node and returns one value, failing the test if absent.
	var last map[string]*dto.MetricFamily
	get := func(node, name string, labels ...string) float64 {
		t.Helper()
		fams, err := scrape(addrs[node])
		if err != nil {
			t.Fatalf("scrape %s: %v", node, err)
		}
		last = fams
		v, ok := metricstest.Value(fams, name, labels...)
		if !ok {
			t.Fatalf("%s exports no %s%v", node, name, labels)
		}
		return v
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		waitFor(t, convergeTimeout, func() string { return what }, cond)
	}
	peer := []string{"peer", "nfs2", "folder", "data"}

	// In step: connected both ways, nothing lagging, work counted.
	eventually("primary sees nfs2 connected and caught up", func() bool {
		return get(primaryName, "ncsync_peer_connected", "peer", "nfs2") == 1 &&
			get(primaryName, "ncsync_peer_lag_entries", peer...) == 0
	})
	if v := get(primaryName, "ncsync_entries_sent_total", peer...); v < 20 {
		t.Errorf("primary: entries_sent_total = %v, want at least the 20 files", v)
	}
	if v := get(primaryName, "ncsync_entries_sent_bytes_total", peer...); v < 20*1000 {
		t.Errorf("primary: entries_sent_bytes_total = %v, want at least 20,000", v)
	}
	if v := get(primaryName, "ncsync_chunks_sent_bytes_total", "peer", "nfs2"); v < 20*1000 {
		t.Errorf("primary: chunks_sent_bytes_total = %v, want at least 20,000", v)
	}
	if v := get(primaryName, "ncsync_watched_dirs", "folder", "data"); v < 1 {
		t.Errorf("primary: watched_dirs = %v, want at least the root", v)
	}
	if v := get(primaryName, "ncsync_scan_duration_seconds", "folder", "data", "kind", "full"); v < 1 {
		t.Errorf("primary: no full scan in the scan duration histogram (count %v)", v)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "ncsync_scans_total", "ncsync_scan_failing"} {
		if _, ok := last[name]; !ok {
			t.Errorf("primary exports no %s", name)
		}
	}
	applied := get("nfs2", "ncsync_entries_applied_total", "folder", "data")
	if applied < 20 {
		t.Errorf("secondary: entries_applied_total = %v, want at least the 20 files", applied)
	}
	if v := get("nfs2", "ncsync_node_info", "node", "nfs2", "role", "secondary"); v != 1 {
		t.Errorf("secondary: node_info = %v", v)
	}

	// A copy of a file the secondary holds is built from its local chunks.
	big := []byte(strings.Repeat("0123456789abcdef", 16<<10)) // 256 KiB
	writeFile(t, filepath.Join(data, "big.bin"), big, 0o644)
	c.waitConsistent(t.Context(), "nfs2")
	reused := get("nfs2", "ncsync_chunks_reused_bytes_total", "folder", "data")
	writeFile(t, filepath.Join(data, "big-copy.bin"), big, 0o644)
	c.waitConsistent(t.Context(), "nfs2")
	if v := get("nfs2", "ncsync_chunks_reused_bytes_total", "folder", "data"); v < reused+float64(len(big)) {
		t.Errorf("secondary: chunks_reused_bytes_total %v after a copy, want at least %v", v, reused+float64(len(big)))
	}

	// A barrier is counted with its wait.
	c.mustCLI("barrier", "--socket", c.node(primaryName).socket, "--timeout", "30s")
	if v := get(primaryName, "ncsync_barriers_total", "result", "reached"); v != 1 {
		t.Errorf("primary: barriers_total{result=reached} = %v after one barrier", v)
	}
	if v := get(primaryName, "ncsync_barrier_wait_seconds", "result", "reached"); v != 1 {
		t.Errorf("primary: barrier_wait_seconds count = %v after one barrier", v)
	}

	// The secondary stops; changes keep coming: its lag rises.
	c.stop("nfs2")
	eventually("primary sees nfs2 disconnected", func() bool {
		return get(primaryName, "ncsync_peer_connected", "peer", "nfs2") == 0
	})
	for i := range 50 {
		writeFile(t, filepath.Join(data, fmt.Sprintf("new/g%02d.txt", i)), []byte(strings.Repeat("y", 4096+i)), 0o644)
	}
	var lag1 float64
	eventually("primary shows nfs2's lag", func() bool {
		lag1 = get(primaryName, "ncsync_peer_lag_seconds", peer...)
		return get(primaryName, "ncsync_peer_lag_entries", peer...) >= 50 &&
			get(primaryName, "ncsync_peer_lag_bytes", peer...) >= 50*4096 && lag1 > 0
	})
	eventually("nfs2's lag in seconds keeps rising while it is stopped", func() bool {
		return get(primaryName, "ncsync_peer_lag_seconds", peer...) > lag1
	})

	// It returns and catches up: the lag falls to zero, more is applied.
	c.start("nfs2")
	c.waitConsistent(t.Context(), "nfs2")
	eventually("primary sees nfs2 caught up", func() bool {
		return get(primaryName, "ncsync_peer_connected", "peer", "nfs2") == 1 &&
			get(primaryName, "ncsync_peer_lag_entries", peer...) == 0 &&
			get(primaryName, "ncsync_peer_lag_bytes", peer...) == 0 &&
			get(primaryName, "ncsync_peer_lag_seconds", peer...) == 0
	})
	eventually("the secondary shows itself caught up", func() bool {
		fams, err := scrape(addrs["nfs2"])
		if err != nil {
			return false
		}
		connected, _ := metricstest.Value(fams, "ncsync_peer_connected")
		lag, _ := metricstest.Value(fams, "ncsync_peer_lag_entries", "folder", "data")
		catching, _ := metricstest.Value(fams, "ncsync_peer_catching_up", "folder", "data")
		return connected == 1 && lag == 0 && catching == 0
	})
	// Counters restart with the process: the new one applied the 50 files
	// (and the directory) it missed.
	if v := get("nfs2", "ncsync_entries_applied_total", "folder", "data"); v < 50 {
		t.Errorf("secondary after catching up: entries_applied_total = %v, want at least 50", v)
	}
}
