package bench

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture.
const clockTick = 10 * time.Millisecond

// procSample is one reading of a live process's counters.
type procSample struct {
	CPU      time.Duration // user + system of all its threads
	ChildCPU time.Duration // user + system of its waited-for children
	RSS      int64         // bytes resident now (VmRSS)
	Anon     int64         // of which anonymous memory (RssAnon: heap, stacks)
	HWM      int64         // peak resident bytes so far (VmHWM)
}

// readProc reads pid's CPU times and resident memory from /proc.
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	if s.CPU, s.ChildCPU, err = parseStat(stat); err != nil {
		return s, fmt.Errorf("parse stat of pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	s.RSS, s.Anon, s.HWM = parseStatus(string(status))
	return s, nil
}

// parseStat extracts a process's own and its waited-for children's CPU
// time (user + system) from the text of /proc/PID/stat.
func parseStat(stat []byte) (own, children time.Duration, err error) {
	// The command name (field 2) may hold spaces and parentheses: the
	// fields we want are counted from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("no ')' after the command name")
	}
	// After ')': state(3) ... utime(14) stime(15) cutime(16) cstime(17).
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("%d fields after the command name, want ≥ 15", len(f))
	}
	var t [4]time.Duration
	for k := range t {
		v, err := strconv.ParseUint(f[11+k], 10, 63)
		if err != nil {
			return 0, 0, fmt.Errorf("field %d: %w", 14+k, err)
		}
		if v > uint64(math.MaxInt64/clockTick) {
			return 0, 0, fmt.Errorf("field %d: %d ticks out of range", 14+k, v)
		}
		t[k] = time.Duration(v) * clockTick
	}
	return t[0] + t[1], t[2] + t[3], nil
}

// parseStatus extracts VmRSS, RssAnon and VmHWM (bytes) from
// /proc/PID/status. RSS also counts file pages mapped in (bbolt maps its
// whole file): RssAnon is the process's own memory.
func parseStatus(status string) (rss, anon, hwm int64) {
	for line := range strings.Lines(status) {
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			rss = kbField(line)
		case strings.HasPrefix(line, "RssAnon:"):
			anon = kbField(line)
		case strings.HasPrefix(line, "VmHWM:"):
			hwm = kbField(line)
		}
	}
	return rss, anon, hwm
}

// kbField parses "Name:   1234 kB" into bytes.
func kbField(line string) int64 {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	v, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64>>10 {
		return 0
	}
	return v << 10
}

// childPIDs lists pid's live children (/proc/PID/task/TID/children over its
// threads).
func childPIDs(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// usage is what the kernel reports for a waited-for process, its own
// waited-for descendants included. (Not ru_maxrss: see peakTracker.)
type usage struct {
	CPU time.Duration
}

// usageOf extracts the rusage of an exited process.
func usageOf(ps *os.ProcessState) usage {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return usage{CPU: ps.UserTime() + ps.SystemTime()}
	}
	return usage{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
}

// peakTracker samples the peak resident memory (VmHWM) of process trees
// while they run. rusage's ru_maxrss cannot be used for processes the
// harness starts: Linux carries the parent's high-water mark across fork
// and exec into the child's, so every child would report the harness's own
// peak.
type peakTracker struct {
	roots []int
	stop  chan struct{}
	done  chan struct{}
	peaks map[int]int64 // pid → VmHWM; written by the sampling goroutine
	root  map[int]int   // pid → index of its root
}

// trackPeaks starts sampling the trees under roots every interval.
func trackPeaks(interval time.Duration, roots ...int) *peakTracker {
	t := &peakTracker{roots: roots, stop: make(chan struct{}), done: make(chan struct{}),
		peaks: make(map[int]int64), root: make(map[int]int)}
	go func() { // joined by Stop
		defer close(t.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			t.sample()
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

func (t *peakTracker) sample() {
	for i, r := range t.roots {
		queue := []int{r}
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			if s, err := readProc(pid); err == nil && s.HWM > t.peaks[pid] {
				t.peaks[pid], t.root[pid] = s.HWM, i
			}
			queue = append(queue, childPIDs(pid)...)
		}
	}
}

// Stop samples once more and returns, per root, the sum of the peaks of
// every process seen in its tree.
func (t *peakTracker) Stop() []int64 {
	close(t.stop)
	<-t.done
	t.sample()
	out := make([]int64, len(t.roots))
	for pid, p := range t.peaks {
		out[t.root[pid]] += p
	}
	return out
}
