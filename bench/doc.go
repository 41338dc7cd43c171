// Package bench is ncsync's benchmark harness: a deterministic workload
// generator (GenerateTree, TreeHash) and runners that copy the same tree
// with rsync and with real ncsync daemons, measuring wall time, bytes on
// the wire, CPU seconds and peak memory of each tool's processes (Run).
//
// Both tools run as separate processes on loopback: rsync as a client
// against an rsync daemon, ncsync as `ncsync run` primary and secondary
// with mutual TLS. Each tool's connection goes through a counting TCP proxy
// in the harness, so bytes on the wire are measured the same way for both.
// A run ends when the target is verified equal to the source: every entry's
// content, mode and mtime in nanoseconds.
//
// `ncsync bench` (cmd/ncsync) is the command-line front end.
package bench
