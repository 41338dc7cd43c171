package bench

import (
	"context"
	"sync"
	"time"
)

// replica is one tool keeping a target tree equal to a source tree in the
// mutation scenarios: started on a source and an empty target it makes
// the initial copy, then follows the changes. Methods are called from one
// goroutine, except procs, which the resource sampler calls concurrently.
type replica interface {
	// start launches the tool's processes; dir is for its configs, logs
	// and state. The initial copy may begin at once.
	start(ctx context.Context, src, dst, dir string) error
	// sync runs after each mutation: rsync's client copies here; the
	// continuous tools return at once.
	sync(ctx context.Context) error
	// procs returns the live root processes of the source side and of
	// the target side (their descendants count too).
	procs() (source, target []int)
	// extraCPU is the CPU time of processes the harness waited for itself
	// (rsync's client), not found under procs.
	extraCPU() (source, target time.Duration)
	// wire returns the bytes carried so far, to the target and back.
	wire() (toTarget, toSource int64)
	// alive reports an error once the tool has died.
	alive() error
	// compare says what the target is compared on.
	compare() compareOptions
	// note is a line for the report about how the tool was set up.
	note() string
	// stop ends the tool; safe to call after a failed start.
	stop()
}

// resources is a reading of a replica's counters.
type resources struct {
	cpu                [2]time.Duration // source, target
	toTarget, toSource int64
}

// readResources reads rep's CPU (every process under its roots: own time
// plus that of the children each has waited for) and wire counters.
// With a network namespace, the wire counters are the veth's.
func readResources(rep replica, tn *targetNet) resources {
	var r resources
	src, dst := rep.procs()
	for side, roots := range [2][]int{src, dst} {
		for _, pid := range treePIDs(roots) {
			if s, err := readProc(pid); err == nil {
				r.cpu[side] += s.CPU + s.ChildCPU
			}
		}
	}
	es, et := rep.extraCPU()
	r.cpu[0] += es
	r.cpu[1] += et
	r.toTarget, r.toSource = wireMeter{tn: tn, proxy: rep.wire}.read()
	return r
}

// treePIDs lists roots and all their live descendants.
func treePIDs(roots []int) []int {
	var out []int
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		out = append(out, pid)
		queue = append(queue, childPIDs(pid)...)
	}
	return out
}

// rssSampler samples the resident memory of a replica's process trees
// every interval and keeps, per side, the largest sum over one sample
// since the last reset: the peak of what the tool held at one time,
// transient children (rsync processes) included.
type rssSampler struct {
	mu    sync.Mutex
	peak  [2]int64
	stopc chan struct{}
	done  chan struct{}
}

func startRSSSampler(rep replica, interval time.Duration) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() { // joined by stop
		defer close(s.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			s.sample(rep)
			select {
			case <-s.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) sample(rep replica) {
	src, dst := rep.procs()
	var sum [2]int64
	for side, roots := range [2][]int{src, dst} {
		for _, pid := range treePIDs(roots) {
			if p, err := readProc(pid); err == nil {
				sum[side] += p.RSS
			}
		}
	}
	s.mu.Lock()
	for i := range sum {
		s.peak[i] = max(s.peak[i], sum[i])
	}
	s.mu.Unlock()
}

// take samples once more, returns the peaks since the last take and
// resets them.
func (s *rssSampler) take(rep replica) [2]int64 {
	s.sample(rep)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.peak
	s.peak = [2]int64{}
	return p
}

func (s *rssSampler) stop() {
	close(s.stopc)
	<-s.done
}
