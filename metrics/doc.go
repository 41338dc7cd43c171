// Package metrics exposes a node's state to Prometheus: a collector that
// reads the node's report (package report) at every scrape, the few
// histograms and counters the report does not hold (scan durations,
// barrier waits), and the HTTP endpoint that serves them on
// metrics_listen. It is the only package besides the composition root
// that imports the Prometheus client.
package metrics
