package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/ncsync/ncsync/metrics/metricstest"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

type fakeSource struct {
	st  report.Node
	err error
}

func (f fakeSource) Status(context.Context) (report.Node, error) { return f.st, f.err }

var t0 = time.Unix(1_700_000_000, 0)

func primaryReport() report.Node {
	return report.Node{
		Node: "nfs1", Role: pki.RolePrimary, ClusterID: "c1", Epoch: 3, Started: t0,
		Folders: []report.Folder{{
			ID: "data", Seq: 120, Files: 10, Dirs: 2, Bytes: 4096, Scans: 7, FilesHashed: 9, LastScan: t0,
			Watched: 2, Overflows: 1, Degraded: "out of watches", AuditFindings: 4,
			ScanError: &report.ScanError{Error: "permission denied", Pending: 3},
		}},
		Peers: []report.Peer{
			{Node: "nfs2", Connected: true, LastSeen: t0, BytesSent: 700, ChunkBytesRaw: 1000,
				Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 100, LagEntries: 20, LagBytes: 2048,
					Lag: 1500 * time.Millisecond, ApplyError: "disk full", EntriesSent: 100, BytesSent: 3000, EntriesRefused: 2,
					ChunkListDeltas: 6}}},
			{Node: "nfs3", Folders: []report.PeerFolder{{Folder: "data"}}},
		},
		Pauses:   []report.Pause{{Peer: "nfs3", StagedBytes: 512, Expires: t0.Add(time.Hour)}},
		Barriers: []report.Barrier{{ID: "b1"}},
	}
}

func secondaryReport() report.Node {
	return report.Node{
		Node: "nfs2", Role: pki.RoleSecondary, ClusterID: "c1", Epoch: 3, StagedBytes: 64, Paused: true,
		Folders: []report.Folder{{
			ID: "data", Seq: 100, EntriesApplied: 98, BytesApplied: 3000, EntriesRefused: 2,
			ChunkBytesReused: 400, ChunkBytesFetched: 600, ChunkListsFetched: 7, ChunksPatched: 8, ChunkPatchesRefused: 9, LocalChanges: 5, Repairs: 3,
			ConflictStoreFull: &report.ConflictStoreFull{Path: "a"},
		}},
		Peers: []report.Peer{{Node: "nfs1", Role: pki.RolePrimary, Address: "nfs1.example:7300", Connected: false,
			Folders: []report.PeerFolder{{Folder: "data", AckedSeq: 100, LagEntries: 20, Lag: 2 * time.Second, CatchingUp: true}}}},
		ConflictStores: []report.ConflictStore{{Dir: "/var/lib/ncsync/conflicts", Folders: []string{"data"},
			Records: 5, Bytes: 40960, MaxBytes: 1 << 30, MaxFiles: 10000}},
	}
}

// gather returns the families of reg by name.
func gather(t *testing.T, src Source, ev *Events) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := NewRegistry(src, ev).Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]*dto.MetricFamily)
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return m
}

func TestPrimaryReport(t *testing.T) {
	fams := gather(t, fakeSource{st: primaryReport()}, nil)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ncsync_report_ok", nil, 1},
		{"ncsync_node_info", []string{"node", "nfs1", "role", "primary", "cluster", "c1"}, 1},
		{"ncsync_epoch", nil, 3},
		{"ncsync_start_time_seconds", nil, 1_700_000_000},
		{"ncsync_folder_sequence", []string{"folder", "data"}, 120},
		{"ncsync_folder_files", []string{"folder", "data"}, 10},
		{"ncsync_folder_bytes", []string{"folder", "data"}, 4096},
		{"ncsync_scans_total", []string{"folder", "data"}, 7},
		{"ncsync_files_hashed_total", []string{"folder", "data"}, 9},
		{"ncsync_watched_dirs", []string{"folder", "data"}, 2},
		{"ncsync_watch_overflows_total", []string{"folder", "data"}, 1},
		{"ncsync_folder_degraded", []string{"folder", "data"}, 1},
		{"ncsync_audit_findings_total", []string{"folder", "data"}, 4},
		{"ncsync_scan_failing", []string{"folder", "data"}, 1},
		{"ncsync_scan_pending_paths", []string{"folder", "data"}, 3},
		{"ncsync_peer_connected", []string{"peer", "nfs2"}, 1},
		{"ncsync_peer_connected", []string{"peer", "nfs3"}, 0},
		{"ncsync_peer_acked_sequence", []string{"peer", "nfs2", "folder", "data"}, 100},
		{"ncsync_peer_lag_entries", []string{"peer", "nfs2", "folder", "data"}, 20},
		{"ncsync_peer_lag_bytes", []string{"peer", "nfs2", "folder", "data"}, 2048},
		{"ncsync_peer_lag_seconds", []string{"peer", "nfs2", "folder", "data"}, 1.5},
		{"ncsync_peer_apply_error", []string{"peer", "nfs2", "folder", "data"}, 1},
		{"ncsync_entries_sent_total", []string{"peer", "nfs2", "folder", "data"}, 100},
		{"ncsync_entries_sent_bytes_total", []string{"peer", "nfs2", "folder", "data"}, 3000},
		{"ncsync_entries_refused_total", []string{"peer", "nfs2", "folder", "data"}, 2},
		{"ncsync_chunk_list_deltas_total", []string{"peer", "nfs2", "folder", "data"}, 6},
		{"ncsync_chunks_sent_bytes_total", []string{"peer", "nfs2"}, 1000},
		{"ncsync_chunks_sent_wire_bytes_total", []string{"peer", "nfs2"}, 700},
		{"ncsync_barriers_in_progress", nil, 1},
		{"ncsync_paused", []string{"peer", "nfs2"}, 0},
		{"ncsync_paused", []string{"peer", "nfs3"}, 1},
		{"ncsync_pause_staged_bytes", []string{"peer", "nfs3"}, 512},
		{"ncsync_pause_expires_timestamp_seconds", []string{"peer", "nfs3"}, 1_700_003_600},
	} {
		got, ok := metricstest.Value(fams, tt.name, tt.labels...)
		if !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, name := range []string{"ncsync_entries_applied_total", "ncsync_peer_catching_up", "ncsync_staged_bytes", "ncsync_repairs_total", "ncsync_peer_info"} {
		if _, ok := fams[name]; ok {
			t.Errorf("a primary exports %s, a secondary's metric", name)
		}
	}
}

func TestSecondaryReport(t *testing.T) {
	fams := gather(t, fakeSource{st: secondaryReport()}, nil)
	const peer = "nfs1" // the node it follows, as the primary labels it
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ncsync_node_info", []string{"role", "secondary"}, 1},
		{"ncsync_folder_sequence", []string{"folder", "data"}, 100},
		{"ncsync_entries_applied_total", []string{"folder", "data"}, 98},
		{"ncsync_entries_applied_bytes_total", []string{"folder", "data"}, 3000},
		{"ncsync_entries_refused_total", []string{"peer", peer, "folder", "data"}, 2},
		{"ncsync_chunks_reused_bytes_total", []string{"folder", "data"}, 400},
		{"ncsync_chunks_fetched_bytes_total", []string{"folder", "data"}, 600},
		{"ncsync_chunk_lists_fetched_total", []string{"folder", "data"}, 7},
		{"ncsync_chunks_patched_total", []string{"folder", "data"}, 8},
		{"ncsync_chunk_patches_refused_total", []string{"folder", "data"}, 9},
		{"ncsync_local_changes", []string{"folder", "data"}, 5},
		{"ncsync_conflict_store_full", []string{"folder", "data"}, 1},
		{"ncsync_repairs_total", []string{"folder", "data"}, 3},
		{"ncsync_peer_connected", []string{"peer", peer}, 0},
		{"ncsync_peer_info", []string{"peer", peer, "address", "nfs1.example:7300"}, 1},
		{"ncsync_peer_lag_entries", []string{"peer", peer, "folder", "data"}, 20},
		{"ncsync_peer_lag_seconds", []string{"peer", peer, "folder", "data"}, 2},
		{"ncsync_peer_catching_up", []string{"peer", peer, "folder", "data"}, 1},
		{"ncsync_staged_bytes", nil, 64},
		{"ncsync_paused", []string{"peer", "nfs2"}, 1}, // itself, as its primary told it
		{"ncsync_conflict_store_records", []string{"store", "/var/lib/ncsync/conflicts"}, 5},
		{"ncsync_conflict_store_bytes", []string{"store", "/var/lib/ncsync/conflicts"}, 40960},
		{"ncsync_conflict_store_max_bytes", []string{"store", "/var/lib/ncsync/conflicts"}, 1 << 30},
		{"ncsync_conflict_store_max_records", []string{"store", "/var/lib/ncsync/conflicts"}, 10000},
	} {
		got, ok := metricstest.Value(fams, tt.name, tt.labels...)
		if !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, name := range []string{"ncsync_scans_total", "ncsync_peer_lag_bytes", "ncsync_pause_staged_bytes", "ncsync_entries_sent_total"} {
		if _, ok := fams[name]; ok {
			t.Errorf("a secondary exports %s, a primary's metric", name)
		}
	}
}

func TestReportError(t *testing.T) {
	// A partial report is exported with report_ok 0; none, as report_ok 0 alone.
	partial := primaryReport()
	fams := gather(t, fakeSource{st: partial, err: errors.New("index closed")}, nil)
	if v, ok := metricstest.Value(fams, "ncsync_report_ok"); !ok || v != 0 {
		t.Errorf("report_ok = %v, %v; want 0", v, ok)
	}
	if _, ok := metricstest.Value(fams, "ncsync_folder_sequence", "folder", "data"); !ok {
		t.Error("the partial report's folders are missing")
	}
	fams = gather(t, fakeSource{err: errors.New("index closed")}, nil)
	if v, ok := metricstest.Value(fams, "ncsync_report_ok"); !ok || v != 0 {
		t.Errorf("report_ok = %v, %v; want 0", v, ok)
	}
	if _, ok := fams["ncsync_node_info"]; ok {
		t.Error("node_info exported without a report")
	}
}

func TestEvents(t *testing.T) {
	ev := NewEvents()
	ev.Scan("data", "paths", 3*time.Millisecond, nil)
	ev.Scan("data", "full", 2*time.Second, errors.New("permission denied"))
	ev.Scan("web", "audit", time.Second, nil)
	ev.Barrier(time.Second, true, nil)
	ev.Barrier(time.Minute, false, nil)
	ev.Barrier(time.Millisecond, false, errors.New("unknown peer"))
	ev.Barrier(time.Millisecond, false, errors.New("verification mismatch"))
	var none *Events // a node without metrics
	none.Scan("data", "paths", time.Second, nil)
	none.Barrier(time.Second, true, nil)

	fams := gather(t, fakeSource{st: primaryReport()}, ev)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ncsync_scan_duration_seconds", []string{"folder", "data", "kind", "paths"}, 1},
		{"ncsync_scan_duration_seconds", []string{"folder", "data", "kind", "full"}, 1},
		{"ncsync_scan_duration_seconds", []string{"folder", "web", "kind", "audit"}, 1},
		{"ncsync_scan_errors_total", []string{"folder", "data"}, 1},
		{"ncsync_scan_errors_total", []string{"folder", "web"}, 0},
		{"ncsync_barriers_total", []string{"result", "reached"}, 1},
		{"ncsync_barriers_total", []string{"result", "timeout"}, 1},
		{"ncsync_barriers_total", []string{"result", "error"}, 2},
		{"ncsync_barrier_wait_seconds", []string{"result", "timeout"}, 1},
	} {
		got, ok := metricstest.Value(fams, tt.name, tt.labels...)
		if !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, m := range fams["ncsync_scan_duration_seconds"].GetMetric() {
		if h := m.GetHistogram(); h.GetSampleCount() == 1 && h.GetSampleSum() == 2 {
			return // the full scan's 2 s
		}
	}
	t.Error("the full scan's duration (2 s) is not in the histogram")
}

// TestNames checks that Names lists exactly ncsync's own metrics a full
// report and every event export, and that each follows the naming rules.
func TestNames(t *testing.T) {
	ev := NewEvents()
	ev.Scan("data", "paths", time.Millisecond, errors.New("x"))
	ev.Barrier(time.Second, true, nil)
	seen := map[string]bool{}
	for _, st := range []report.Node{primaryReport(), secondaryReport()} {
		for name := range gather(t, fakeSource{st: st}, ev) {
			if strings.HasPrefix(name, "ncsync_") {
				seen[name] = true
			}
		}
	}
	names := Names()
	for _, n := range names {
		if !seen[n] {
			t.Errorf("Names lists %s, which no report exports", n)
		}
		if !model.IsValidLegacyMetricName(n) {
			t.Errorf("%s is not a valid metric name", n)
		}
	}
	for n := range seen {
		if !slices.Contains(names, n) {
			t.Errorf("%s is exported but not in Names", n)
		}
	}
}

// TestServe scrapes the HTTP endpoint and parses it with the official
// text parser, Go and process collectors included.
func TestServe(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	log := slog.New(slog.DiscardHandler)
	go func() {
		done <- Serve(ctx, lis, Handler(NewRegistry(fakeSource{st: primaryReport()}, NewEvents()), log))
	}()
	fams, err := metricstest.Scrape("http://" + lis.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ncsync_peer_lag_seconds", "ncsync_barriers_total", "go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if v, ok := metricstest.Value(fams, "ncsync_peer_lag_seconds", "peer", "nfs2", "folder", "data"); !ok || v != 1.5 {
		t.Errorf("lag over HTTP = %v, %v; want 1.5", v, ok)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
