package ignore

// NextcloudDefaults are the default patterns for a folder that is a
// Nextcloud data directory (anchored patterns are relative to it; see
// /work/shared/NEXTCLOUD.md). Each names something that is either
// transient or private to one node, so replicating it costs bandwidth and,
// worse, makes a secondary's tree differ in ways that are not changes.
var NextcloudDefaults = []string{
	// Chunked-upload staging (data/<user>/uploads/<transfer>/<chunks>).
	// Nextcloud expires it after 24 h; what matters is the final MOVE that
	// assembles the file, which the scanner sees as the new file.
	"/*/uploads/",
	// Single-PUT staging: the body is written to
	// "<name>.ocTransferId<n>.part" and renamed over the target when
	// complete. Replicating it would ship every upload twice.
	"*.ocTransferId*.part",
	// Per-node logs: each app server node appends its own, constantly.
	// Replicating them would overwrite the secondary's own log.
	"/nextcloud.log",
	"/audit.log",
	// Updater working directories (downloads, backups of the node doing the
	// upgrade). Private to the upgrading node; the upgraded code and data
	// are replicated through the barrier instead.
	"/updater-*/",
}
