package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/report"
)

// Source gives the node's report; Status may be called concurrently, and
// may return a partial report with its error.
type Source interface {
	Status(ctx context.Context) (report.Node, error)
}

// statusTimeout bounds one scrape's wait for the report.
const statusTimeout = 10 * time.Second

// Collector turns the node's report into metrics at scrape time: nothing
// is kept between scrapes, so a value is never older than the scrape.
type Collector struct {
	src Source
}

// NewCollector returns a collector of src's report.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range reportDescs {
		ch <- d.desc
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	st, err := c.src.Status(ctx)
	e := emitter{ch: ch}
	e.gauge(reportOK, b2f(err == nil))
	if st.Node == "" && err != nil {
		return // nothing else to say
	}
	e.report(st)
}

// emitter sends the metrics of one scrape.
type emitter struct {
	ch chan<- prometheus.Metric
}

func (e emitter) gauge(d metricDesc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, v, labels...)
}

func (e emitter) counter(d metricDesc, v uint64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(v), labels...)
}

// timestamp emits t as Unix seconds, nothing when t is zero.
func (e emitter) timestamp(d metricDesc, t time.Time, labels ...string) {
	if !t.IsZero() {
		e.gauge(d, float64(t.UnixNano())/1e9, labels...)
	}
}

func (e emitter) report(st report.Node) {
	e.gauge(nodeInfo, 1, st.Node, string(st.Role), st.ClusterID)
	e.gauge(epoch, float64(st.Epoch))
	e.timestamp(startTime, st.Started)
	primary := st.Role == pki.RolePrimary
	for i := range st.Folders {
		e.folder(&st.Folders[i], primary)
	}
	for i := range st.Peers {
		e.peer(&st.Peers[i], primary, st.Folders)
	}
	if primary {
		e.gauge(barriersInProgress, float64(len(st.Barriers)))
		e.pauses(st)
	} else {
		e.gauge(stagedBytes, float64(st.StagedBytes))
		e.gauge(pausedGauge, b2f(st.Paused), st.Node) // as its primary told it
	}
	for _, cs := range st.ConflictStores {
		e.gauge(conflictStoreRecords, float64(cs.Records), cs.Dir)
		e.gauge(conflictStoreBytes, float64(cs.Bytes), cs.Dir)
		e.gauge(conflictStoreMaxBytes, float64(cs.MaxBytes), cs.Dir)
		e.gauge(conflictStoreMaxRecords, float64(cs.MaxFiles), cs.Dir)
	}
}

func (e emitter) folder(f *report.Folder, primary bool) {
	id := f.ID
	e.gauge(folderSeq, float64(f.Seq), id)
	e.gauge(folderFiles, float64(f.Files), id)
	e.gauge(folderDirs, float64(f.Dirs), id)
	e.gauge(folderBytes, float64(f.Bytes), id)
	e.gauge(folderError, b2f(f.LastError != ""), id)
	if primary {
		e.counter(scans, f.Scans, id)
		e.counter(filesHashed, f.FilesHashed, id)
		e.timestamp(lastScan, f.LastScan, id)
		e.gauge(watchedDirs, float64(f.Watched), id)
		e.counter(overflows, f.Overflows, id)
		e.gauge(degraded, b2f(f.Degraded != ""), id)
		e.counter(auditFindings, f.AuditFindings, id)
		var pending uint64
		if f.ScanError != nil {
			pending = f.ScanError.Pending
		}
		e.gauge(scanFailing, b2f(f.ScanError != nil), id)
		e.gauge(scanPending, float64(pending), id)
		return
	}
	e.counter(entriesApplied, f.EntriesApplied, id)
	e.counter(bytesApplied, f.BytesApplied, id)
	e.counter(chunkReused, f.ChunkBytesReused, id)
	e.counter(chunkFetched, f.ChunkBytesFetched, id)
	e.counter(listsFetched, f.ChunkListsFetched, id)
	e.counter(chunksPatched, f.ChunksPatched, id)
	e.counter(patchesRefused, f.ChunkPatchesRefused, id)
	e.gauge(localChanges, float64(f.LocalChanges), id)
	e.gauge(conflictStoreFull, b2f(f.ConflictStoreFull != nil), id)
	e.counter(repairs, f.Repairs, id)
}

// The peer label is a node name on both roles: a secondary labels its
// primary with the node it follows (report.Peer.Node), as the primary
// labels its secondaries; ncsync_peer_info gives the address.
func (e emitter) peer(p *report.Peer, primary bool, folders []report.Folder) {
	name := p.Node
	e.gauge(peerConnected, b2f(p.Connected), name)
	if !primary {
		e.gauge(peerInfo, 1, name, p.Address)
	}
	e.timestamp(peerLastSeen, p.LastSeen, name)
	if primary {
		e.counter(chunksSent, p.ChunkBytesRaw, name)
		e.counter(chunksSentWire, p.BytesSent, name)
	}
	refusedHere := make(map[string]uint64, len(folders))
	for _, f := range folders {
		refusedHere[f.ID] = f.EntriesRefused
	}
	for _, pf := range p.Folders {
		id := pf.Folder
		e.gauge(ackedSeq, float64(pf.AckedSeq), name, id)
		e.gauge(lagEntries, float64(pf.LagEntries), name, id)
		e.gauge(lagSeconds, pf.Lag.Seconds(), name, id)
		if primary {
			e.gauge(lagBytes, float64(pf.LagBytes), name, id)
			e.gauge(applyError, b2f(pf.ApplyError != ""), name, id)
			e.counter(entriesSent, pf.EntriesSent, name, id)
			e.counter(bytesSent, pf.BytesSent, name, id)
			e.counter(entriesRefused, pf.EntriesRefused, name, id)
			e.counter(listDeltas, pf.ChunkListDeltas, name, id)
			continue
		}
		e.gauge(catchingUp, b2f(pf.CatchingUp), name, id)
		e.counter(entriesRefused, refusedHere[id], name, id)
	}
}

// pauses reports every peer of a primary as paused or not.
func (e emitter) pauses(st report.Node) {
	paused := make(map[string]report.Pause, len(st.Pauses))
	for _, pa := range st.Pauses {
		paused[pa.Peer] = pa
	}
	for i := range st.Peers {
		name := st.Peers[i].Node
		pa, ok := paused[name]
		delete(paused, name)
		e.gauge(pausedGauge, b2f(ok), name)
		e.gauge(pauseStaged, float64(pa.StagedBytes), name)
		e.timestamp(pauseExpires, pa.Expires, name)
	}
	for name, pa := range paused { // a pause of a peer no longer listed
		e.gauge(pausedGauge, 1, name)
		e.gauge(pauseStaged, float64(pa.StagedBytes), name)
		e.timestamp(pauseExpires, pa.Expires, name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
