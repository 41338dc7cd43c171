// Package transport is the gRPC edge of replication: a primary's Server
// streams journal batches and chunk data to verified secondaries, and a
// secondary's Client follows a primary. Peers authenticate each other with
// mutual TLS 1.3 against the cluster CA (package pki); every message from a
// peer is checked against explicit Limits before the rest of ncsync sees it.
//
// Generated protocol types stay inside this package: callers work with
// index.Entry and the Go types declared here.
package transport
