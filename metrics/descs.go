package metrics

import "github.com/prometheus/client_golang/prometheus"

// metricDesc is one metric of the report, with its name kept for Names.
type metricDesc struct {
	name string
	desc *prometheus.Desc
}

// reportDescs is every metric the Collector may emit.
var reportDescs []metricDesc

func def(name, help string, labels ...string) metricDesc {
	d := metricDesc{name: name, desc: prometheus.NewDesc(name, help, labels, nil)}
	reportDescs = append(reportDescs, d)
	return d
}

const (
	lFolder = "folder"
	lPeer   = "peer"
	lStore  = "store"
)

// The node.
var (
	reportOK  = def("ncsync_report_ok", "1 if the node's report could be read at this scrape, else 0 (the metrics below may then be missing or partial).")
	nodeInfo  = def("ncsync_node_info", "Always 1: the node's name, its role (primary or secondary) and its cluster.", "node", "role", "cluster")
	epoch     = def("ncsync_epoch", "The epoch (primary term) this node is in.")
	startTime = def("ncsync_start_time_seconds", "When the daemon's replication started (Unix seconds).")
)

// Folders, on both roles.
var (
	folderSeq   = def("ncsync_folder_sequence", "Primary: the journal's head sequence; secondary: the sequence applied.", lFolder)
	folderFiles = def("ncsync_folder_files", "Files in the folder, as the index holds them.", lFolder)
	folderDirs  = def("ncsync_folder_dirs", "Directories in the folder, as the index holds them.", lFolder)
	folderBytes = def("ncsync_folder_bytes", "Bytes of the files in the folder, as the index holds them.", lFolder)
	folderError = def("ncsync_folder_error", "1 while the folder's last scan (primary) or apply (secondary) failed.", lFolder)
)

// The primary's change detection.
var (
	scans         = def("ncsync_scans_total", "Scans of the folder (watched paths, full and audit scans).", lFolder)
	filesHashed   = def("ncsync_files_hashed_total", "Files read and hashed by scans.", lFolder)
	lastScan      = def("ncsync_last_scan_timestamp_seconds", "When the folder's last scan ended (Unix seconds).", lFolder)
	watchedDirs   = def("ncsync_watched_dirs", "Directories watched with inotify.", lFolder)
	overflows     = def("ncsync_watch_overflows_total", "Times the watcher lost events and rescanned.", lFolder)
	degraded      = def("ncsync_folder_degraded", "1 while some or all of the folder cannot be watched and is rescanned every scan_interval instead.", lFolder)
	auditFindings = def("ncsync_audit_findings_total", "Changes found by audit scans that the watcher did not report.", lFolder)
	scanFailing   = def("ncsync_scan_failing", "1 while paths of the folder whose scan failed wait for a retry: barrier, pause and verify fail meanwhile.", lFolder)
	scanPending   = def("ncsync_scan_pending_paths", "Paths whose scan failed and waits for a retry.", lFolder)
)

// Replication, per peer (and folder).
var (
	peerConnected  = def("ncsync_peer_connected", "1 while a replication session with the peer runs.", lPeer)
	peerInfo       = def("ncsync_peer_info", "Secondary: always 1; the primary it follows (its node name) and the address it reaches it at (the config's primary).", lPeer, "address")
	peerLastSeen   = def("ncsync_peer_last_seen_timestamp_seconds", "When the peer was last heard from (Unix seconds).", lPeer)
	ackedSeq       = def("ncsync_peer_acked_sequence", "The sequence the secondary has durably applied and acknowledged.", lPeer, lFolder)
	lagEntries     = def("ncsync_peer_lag_entries", "Journal entries the secondary has not yet acknowledged (a lower bound when far behind; on a secondary an upper bound).", lPeer, lFolder)
	lagBytes       = def("ncsync_peer_lag_bytes", "Primary: bytes of the files among the unacknowledged entries.", lPeer, lFolder)
	lagSeconds     = def("ncsync_peer_lag_seconds", "Age of the oldest change the secondary has not acknowledged; 0 when it holds everything.", lPeer, lFolder)
	applyError     = def("ncsync_peer_apply_error", "Primary: 1 while the secondary reports it cannot apply the folder's changes (full disk, I/O error).", lPeer, lFolder)
	catchingUp     = def("ncsync_peer_catching_up", "Secondary: 1 until the folder holds everything the primary had when the session began.", lPeer, lFolder)
	entriesSent    = def("ncsync_entries_sent_total", "Primary: journal entries sent to the peer.", lPeer, lFolder)
	bytesSent      = def("ncsync_entries_sent_bytes_total", "Primary: bytes of the files among the entries sent to the peer.", lPeer, lFolder)
	entriesRefused = def("ncsync_entries_refused_total", "Entries the secondary refused (bad input, or matching its own ignore patterns): on the primary as the peer reported them, on the secondary as it refused them.", lPeer, lFolder)
	chunksSent     = def("ncsync_chunks_sent_bytes_total", "Primary: chunk data sent to the peer, before compression.", lPeer)
	chunksSentWire = def("ncsync_chunks_sent_wire_bytes_total", "Primary: chunk data sent to the peer as it went on the wire (zstd where it paid).", lPeer)
	listDeltas     = def("ncsync_chunk_list_deltas_total", "Primary: entries whose chunk list went to the peer as a delta against the version it was sent before.", lPeer, lFolder)
)

// The secondary's apply.
var (
	entriesApplied = def("ncsync_entries_applied_total", "Secondary: entries applied durably.", lFolder)
	bytesApplied   = def("ncsync_entries_applied_bytes_total", "Secondary: bytes of the files among the entries applied.", lFolder)
	chunkReused    = def("ncsync_chunks_reused_bytes_total", "Secondary: chunk bytes of applied files taken from files already on this node instead of fetched.", lFolder)
	chunkFetched   = def("ncsync_chunks_fetched_bytes_total", "Secondary: chunk bytes of applied files fetched from the primary.", lFolder)
	chunksPatched  = def("ncsync_chunks_patched_total", "Secondary: fetched chunks built from a patch against bytes of this node's previous version of the file.", lFolder)
	patchesRefused = def("ncsync_chunk_patches_refused_total", "Secondary: chunk patches that did not build their chunk, which was then fetched whole.", lFolder)
	listsFetched   = def("ncsync_chunk_lists_fetched_total", "Secondary: whole chunk lists fetched from the primary because a list sent as a delta named a base this node did not hold.", lFolder)
)

// Pauses and barriers.
var (
	barriersInProgress = def("ncsync_barriers_in_progress", "Primary: barriers waiting for their secondaries.")
	pausedGauge        = def("ncsync_paused", "1 while the secondary is paused for a snapshot (on a secondary: itself, as its primary told it in the current session).", lPeer)
	pauseStaged        = def("ncsync_pause_staged_bytes", "Primary: bytes the paused secondary has staged, to apply on resume.", lPeer)
	pauseExpires       = def("ncsync_pause_expires_timestamp_seconds", "Primary: when the secondary's pause runs out (Unix seconds).", lPeer)
	stagedBytes        = def("ncsync_staged_bytes", "Secondary: bytes staged while paused, applied when the pause ends.")
)

// Conflicts and local changes.
var (
	localChanges            = def("ncsync_local_changes", "Secondary: local versions of the folder (edits, new files made on this node) kept in the conflict store.", lFolder)
	repairs                 = def("ncsync_repairs_total", "Secondary: local changes to the folder (a path deleted, edited, chmod'ed or replaced on this node, an object made here) put back to the primary's version.", lFolder)
	conflictStoreFull       = def("ncsync_conflict_store_full", "Secondary: 1 while the folder waits for room in its conflict store.", lFolder)
	conflictStoreRecords    = def("ncsync_conflict_store_records", "Records in the conflict store.", lStore)
	conflictStoreBytes      = def("ncsync_conflict_store_bytes", "Bytes the conflict store's records take on disk.", lStore)
	conflictStoreMaxBytes   = def("ncsync_conflict_store_max_bytes", "The conflict store's limit in bytes (conflicts.max_bytes).", lStore)
	conflictStoreMaxRecords = def("ncsync_conflict_store_max_records", "The conflict store's limit in records (conflicts.max_files).", lStore)
)
