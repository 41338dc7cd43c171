// Package ncsyncv1 holds the Go code generated from proto/ncsync/v1/*.proto:
// the replication protocol between a primary and its secondaries and the
// control protocol of the local unix socket. Only transport and control use
// these types; the rest of ncsync works on its own Go types.
package ncsyncv1
