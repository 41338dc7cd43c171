// Package bench is ncsync's benchmark harness: deterministic,
// Nextcloud-shaped workloads (GenerateTree: a webroot of text files, a data
// directory of photos, videos, documents and notes; mutations: an upgrade,
// an edit and an insert in a large file, a burst of new files, a directory
// rename, single-file writes) and runners that measure ncsync and its peers
// — rsync to an rsync daemon, lsyncd, Syncthing — on the same data in one
// run (Run).
//
// Every tool runs as real processes: a source side (ncsync's primary, the
// rsync client, lsyncd, Syncthing's send-only instance) and a target side
// (the secondary, the rsync daemon, Syncthing's receive-only instance).
// Running as root, the target side runs in a network namespace of its own
// behind a veth pair, and bytes on the wire are the veth's counters;
// otherwise both sides share loopback and a counting TCP proxy in the
// harness counts the payload. A measurement ends when the target is
// verified equal to the source: every entry's content, mode and mtime in
// nanoseconds (directory mtimes in whole seconds for the rsync-based
// tools, not at all for Syncthing, which does not replicate them).
//
// Per scenario and tool a Report holds wall seconds, bytes on the wire,
// CPU seconds and peak resident memory of both sides; WriteTable prints it
// with ncsync's ratio to each peer and its speed targets (Targets).
//
// NodeConfig writes a node's config file and Daemon runs its `ncsync run`
// process (start, restart, signals, stop); the integration tests start
// their clusters with them too.
//
// `ncsync bench` (cmd/ncsync) is the command-line front end;
// tools/install-bench-peers.sh installs the peers.
package bench
