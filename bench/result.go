package bench

import (
	"slices"
	"time"
)

// Sample is one measured run of one tool. "Source" is the side that has
// the tree (rsync's client, ncsync's primary), "target" the side that
// receives it (rsync's daemon, ncsync's secondary).
type Sample struct {
	// Wall is from the tool's start until the target was seen equal.
	Wall float64 `json:"wall_s"`
	// WireToTarget and WireToSource are TCP payload bytes through the
	// harness's counting proxy on loopback.
	WireToTarget int64 `json:"wire_bytes_to_target"`
	WireToSource int64 `json:"wire_bytes_to_source"`
	// ToolBytes is what the tool itself reports (rsync --stats sent plus
	// received; ncsync's peer counters), 0 when it reports nothing.
	ToolBytes int64 `json:"tool_reported_bytes"`
	// ChunkBytesRaw is the chunk data ncsync's primary sent, before
	// compression (0 for other tools).
	ChunkBytesRaw int64 `json:"chunk_bytes_raw,omitempty"`
	// CPU seconds (user + system) and peak resident bytes of each side's
	// processes.
	CPUSource     float64 `json:"cpu_source_s"`
	CPUTarget     float64 `json:"cpu_target_s"`
	PeakRSSSource int64   `json:"peak_rss_source_bytes"`
	PeakRSSTarget int64   `json:"peak_rss_target_bytes"`

	// Idle scenario only: CPU over the window as % of one core, resident
	// bytes at its end and bytes on the wire during it.
	IdleWindow    float64 `json:"idle_window_s,omitempty"`
	IdleCPUSource float64 `json:"idle_cpu_source_pct,omitempty"`
	IdleCPUTarget float64 `json:"idle_cpu_target_pct,omitempty"`
	RSSSource     int64   `json:"rss_source_bytes,omitempty"`
	RSSTarget     int64   `json:"rss_target_bytes,omitempty"`
	AnonSource    int64   `json:"rss_anon_source_bytes,omitempty"` // of RSS: anonymous memory,
	AnonTarget    int64   `json:"rss_anon_target_bytes,omitempty"` // without mapped files`
	IdleWire      int64   `json:"idle_wire_bytes,omitempty"`

	// Latency scenario only: the slowest write (Wall is the median) and
	// every write's time until whole on the target.
	LatencyMax float64   `json:"latency_max_s,omitempty"`
	Latencies  []float64 `json:"latencies_s,omitempty"`
	// Barrier scenario only: how long `ncsync barrier` itself ran (Wall
	// is from the upgrade's start).
	BarrierCall float64 `json:"barrier_call_s,omitempty"`
	// Mutation scenarios: how long the mutation itself took to write
	// (Wall includes it).
	Mutation float64 `json:"mutation_s,omitempty"`
	// Tail is, in the mutation scenarios timed until equal, from the
	// mutation's last write until the target was verified equal: for a
	// continuous tool the lag behind the writer, for rsync (started at
	// that moment) a whole run after the writer is done.
	Tail float64 `json:"after_last_write_s,omitempty"`

	// SteadyRate is the rate on the wire toward the target while the
	// copy ran: from when 10 % of its bytes had crossed until 90 % had
	// (ncsync's initial copies; 0 when not traced).
	SteadyRate float64 `json:"steady_wire_rate_bytes_per_s,omitempty"`
	// Million holds the million scenario's own figures.
	Million *MillionResult `json:"million,omitempty"`

	// Passes is how many times rsync was run until the target was equal
	// (rsync in the mutation scenarios only; 0 or 1 is one pass).
	Passes int `json:"rsync_passes,omitempty"`

	// Equal is whether the target was verified equal to the source
	// (TreeHash: content, mode, mtime ns of every entry).
	Equal bool   `json:"equal"`
	Error string `json:"error,omitempty"`
}

// Wire is the bytes on the wire in both directions.
func (s Sample) Wire() int64 { return s.WireToTarget + s.WireToSource }

// CPU is the CPU seconds of both sides.
func (s Sample) CPU() float64 { return s.CPUSource + s.CPUTarget }

// PeakRSS is the sum of both sides' peak resident bytes.
func (s Sample) PeakRSS() int64 { return s.PeakRSSSource + s.PeakRSSTarget }

// Row is every run of one tool on one workload of one scenario.
type Row struct {
	Scenario string   `json:"scenario"`
	Workload string   `json:"workload"`
	Tool     string   `json:"tool"`
	Files    int      `json:"files"`
	Dirs     int      `json:"dirs"`
	Bytes    int64    `json:"bytes"`
	Runs     []Sample `json:"runs"`
	// Median holds the median of each field over the runs that succeeded;
	// Equal only if every run ended equal.
	Median Sample `json:"median"`
	Note   string `json:"note,omitempty"`
	// Skipped says why the tool did not run.
	Skipped string `json:"skipped,omitempty"`
}

// Report is the outcome of a benchmark.
type Report struct {
	Started   time.Time `json:"started"`
	Host      string    `json:"host"`
	CPUs      int       `json:"cpus"`
	GoVersion string    `json:"go_version"`
	Seed      uint64    `json:"seed"`
	Runs      int       `json:"runs"`
	// CPUModel is the processor's model name; Peers the version of each
	// peer tool found; Network where the receiving side ran.
	CPUModel string            `json:"cpu_model,omitempty"`
	Peers    map[string]string `json:"peer_versions,omitempty"`
	Network  string            `json:"network,omitempty"`
	// LoadStart and LoadEnd are /proc/loadavg when the run started and
	// ended: other work on the machine shows there.
	LoadStart string `json:"loadavg_start,omitempty"`
	LoadEnd   string `json:"loadavg_end,omitempty"`
	// Elapsed is the whole run's wall seconds.
	Elapsed float64 `json:"elapsed_s,omitempty"`
	Command string  `json:"command,omitempty"`
	// Link is the emulated link (zero: none); NcsyncBandwidth the ncsync
	// primary's limits.bandwidth in bytes per second (0: none).
	Link            Link  `json:"link,omitempty"`
	NcsyncBandwidth int64 `json:"ncsync_bandwidth_bytes_per_s,omitempty"`
	// Checks are ncsync's speed targets checked on Rows (see Targets).
	Checks []TargetCheck `json:"targets,omitempty"`
	Rows   []Row         `json:"rows"`
	Notes  []string      `json:"notes"`
}

// OK reports whether every ncsync run ended with the target equal.
func (r *Report) OK() bool {
	for _, row := range r.Rows {
		if row.Tool == ToolNcsync && row.Skipped == "" && !row.Median.Equal {
			return false
		}
	}
	return true
}

// Find returns the row of a scenario, workload and tool, or nil.
func (r *Report) Find(scenario, workload, tool string) *Row {
	for i := range r.Rows {
		x := &r.Rows[i]
		if x.Scenario == scenario && x.Workload == workload && x.Tool == tool {
			return x
		}
	}
	return nil
}

// summarize fills in row.Median.
func (row *Row) summarize() {
	var ok []Sample
	equal := len(row.Runs) > 0
	for _, s := range row.Runs {
		equal = equal && s.Equal
		if s.Error == "" {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		row.Median = Sample{}
		if len(row.Runs) > 0 {
			row.Median.Error = row.Runs[len(row.Runs)-1].Error
		}
		return
	}
	f := func(get func(Sample) float64) float64 { return medianOf(ok, get) }
	i := func(get func(Sample) int64) int64 {
		return int64(medianOf(ok, func(s Sample) float64 { return float64(get(s)) }))
	}
	row.Median = Sample{
		Wall:          f(func(s Sample) float64 { return s.Wall }),
		WireToTarget:  i(func(s Sample) int64 { return s.WireToTarget }),
		WireToSource:  i(func(s Sample) int64 { return s.WireToSource }),
		ToolBytes:     i(func(s Sample) int64 { return s.ToolBytes }),
		ChunkBytesRaw: i(func(s Sample) int64 { return s.ChunkBytesRaw }),
		CPUSource:     f(func(s Sample) float64 { return s.CPUSource }),
		CPUTarget:     f(func(s Sample) float64 { return s.CPUTarget }),
		PeakRSSSource: i(func(s Sample) int64 { return s.PeakRSSSource }),
		PeakRSSTarget: i(func(s Sample) int64 { return s.PeakRSSTarget }),
		IdleWindow:    f(func(s Sample) float64 { return s.IdleWindow }),
		IdleCPUSource: f(func(s Sample) float64 { return s.IdleCPUSource }),
		IdleCPUTarget: f(func(s Sample) float64 { return s.IdleCPUTarget }),
		RSSSource:     i(func(s Sample) int64 { return s.RSSSource }),
		RSSTarget:     i(func(s Sample) int64 { return s.RSSTarget }),
		AnonSource:    i(func(s Sample) int64 { return s.AnonSource }),
		AnonTarget:    i(func(s Sample) int64 { return s.AnonTarget }),
		IdleWire:      i(func(s Sample) int64 { return s.IdleWire }),
		LatencyMax:    f(func(s Sample) float64 { return s.LatencyMax }),
		BarrierCall:   f(func(s Sample) float64 { return s.BarrierCall }),
		Mutation:      f(func(s Sample) float64 { return s.Mutation }),
		Tail:          f(func(s Sample) float64 { return s.Tail }),
		SteadyRate:    f(func(s Sample) float64 { return s.SteadyRate }),
		Passes:        int(f(func(s Sample) float64 { return float64(s.Passes) })),
		Equal:         equal,
	}
}

// medianOf is the median of get over samples (the mean of the middle two
// for an even count).
func medianOf(samples []Sample, get func(Sample) float64) float64 {
	v := make([]float64, len(samples))
	for k, s := range samples {
		v[k] = get(s)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
