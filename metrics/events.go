package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Events counts what happens between scrapes and is not in the report:
// scan durations and barrier waits. Its methods are safe for concurrent
// use, and do nothing on a nil *Events (a node without metrics_listen).
type Events struct {
	scanSeconds    *prometheus.HistogramVec
	scanErrors     *prometheus.CounterVec
	barriers       *prometheus.CounterVec
	barrierSeconds *prometheus.HistogramVec
}

// Names of the Events metrics.
const (
	scanSecondsName    = "ncsync_scan_duration_seconds"
	scanErrorsName     = "ncsync_scan_errors_total"
	barriersName       = "ncsync_barriers_total"
	barrierSecondsName = "ncsync_barrier_wait_seconds"
)

// Barrier outcomes (the result label).
const (
	BarrierReached = "reached"
	BarrierTimeout = "timeout"
	BarrierFailed  = "error"
)

// NewEvents returns empty counters and histograms.
func NewEvents() *Events {
	ev := &Events{
		scanSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: scanSecondsName,
			Help: "How long scans of the folder took, by kind: paths (reported by the watcher, or retried), full, audit.",
			// From a few changed paths (ms) to a full walk of millions of files.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
		}, []string{lFolder, "kind"}),
		scanErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: scanErrorsName,
			Help: "Scans of the folder that failed (their paths stay pending and are retried).",
		}, []string{lFolder}),
		barriers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: barriersName,
			Help: "Barriers taken on this node, by result: reached, timeout, error.",
		}, []string{"result"}),
		barrierSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    barrierSecondsName,
			Help:    "How long barriers waited for their secondaries, by result.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 12), // 10 ms to about 30 min
		}, []string{"result"}),
	}
	for _, r := range []string{BarrierReached, BarrierTimeout, BarrierFailed} {
		ev.barriers.WithLabelValues(r) // every result present from the start, at 0
	}
	return ev
}

// Scan records one finished scan of folder; kind says what it covered.
func (ev *Events) Scan(folder, kind string, took time.Duration, err error) {
	if ev == nil {
		return
	}
	ev.scanSeconds.WithLabelValues(folder, kind).Observe(took.Seconds())
	if err != nil {
		ev.scanErrors.WithLabelValues(folder).Inc()
	} else {
		ev.scanErrors.WithLabelValues(folder) // present at 0 once the folder scanned
	}
}

// Barrier records one barrier that waited took: it failed with err, or,
// without an error, was reached or ran out of time.
func (ev *Events) Barrier(took time.Duration, reached bool, err error) {
	if ev == nil {
		return
	}
	result := BarrierReached
	switch {
	case err != nil:
		result = BarrierFailed
	case !reached:
		result = BarrierTimeout
	}
	ev.barriers.WithLabelValues(result).Inc()
	ev.barrierSeconds.WithLabelValues(result).Observe(took.Seconds())
}

// Describe implements prometheus.Collector.
func (ev *Events) Describe(ch chan<- *prometheus.Desc) {
	ev.scanSeconds.Describe(ch)
	ev.scanErrors.Describe(ch)
	ev.barriers.Describe(ch)
	ev.barrierSeconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (ev *Events) Collect(ch chan<- prometheus.Metric) {
	ev.scanSeconds.Collect(ch)
	ev.scanErrors.Collect(ch)
	ev.barriers.Collect(ch)
	ev.barrierSeconds.Collect(ch)
}
