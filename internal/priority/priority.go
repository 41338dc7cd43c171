// Package priority lowers the daemon's CPU and I/O scheduling priority
// (nice and ionice) for every thread of the process. On Linux both are
// per-thread attributes: setting them on the calling thread only would
// leave the Go runtime's other threads, and the threads they start later,
// at the old priority. New threads inherit from the thread that clones
// them, so once every existing thread is set, all later ones follow.
package priority

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ioprio_set(2) encoding.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
)

// SetNice sets the niceness of every thread of this process.
func SetNice(n int) error {
	return eachThread(func(tid int) error {
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, n); err != nil {
			return fmt.Errorf("nice %d: %w", n, err)
		}
		return nil
	})
}

// SetIO sets the I/O scheduling class and level (ioprio_set(2): 2
// best-effort with level 0..7, 3 idle) of every thread of this process.
func SetIO(class, level int) error {
	prio := uintptr(class<<ioprioClassShift | level)
	return eachThread(func(tid int) error {
		if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), prio); e != 0 {
			return fmt.Errorf("ionice class %d level %d: %w", class, level, e)
		}
		return nil
	})
}

// eachThread calls fn for every thread of the process, twice over the list
// so that a thread started while the first pass ran is set too.
func eachThread(fn func(tid int) error) error {
	for range 2 {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := fn(tid); err != nil && err != unix.ESRCH {
				if os.IsNotExist(err) {
					continue // the thread ended
				}
				return err
			}
		}
	}
	return nil
}
