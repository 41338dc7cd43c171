// Package integration holds ncsync's end-to-end tests: real daemon
// processes (a primary and its secondaries) on loopback with mutual TLS,
// set up and driven only through the ncsync command line, and trees
// compared byte for byte and stat for stat. It contains no non-test code.
//
// The tests build the ncsync binary once (TestMain) and are skipped with
// -short.
package integration
