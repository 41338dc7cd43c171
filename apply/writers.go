package apply

import (
	"runtime"
	"sync"
)

// maxSmallFile is the largest file written by the writers: its bytes are
// held in memory from the moment they are read until they are written.
const maxSmallFile = 1 << 20

// writers runs the writes of small files on a few goroutines, so that
// creating temp files and writing them (most of a small file's cost, much
// of it in the kernel) overlaps with reading the next files' chunks. At
// most 2 × workers writes wait, which bounds the memory they hold. The
// batch that starts the writers owns them: stop is the join point, and the
// batch calls it before it returns, whatever ended it.
type writers struct {
	tasks   chan func()
	workers sync.WaitGroup
}

// newWriters starts the writers, a goroutine per CPU (2 to 4), or returns
// nil on a single CPU, where writer goroutines would only add switches.
func newWriters() *writers {
	n := min(runtime.GOMAXPROCS(0), 4)
	if n < 2 {
		return nil
	}
	return startWriters(n)
}

// startWriters starts n writer goroutines.
func startWriters(n int) *writers {
	s := &writers{tasks: make(chan func(), 2*n)}
	for range n {
		s.workers.Go(s.work)
	}
	return s
}

// work runs queued tasks until stop.
func (s *writers) work() {
	for t := range s.tasks {
		t()
	}
}

// run queues t, waiting while the queue is full.
func (s *writers) run(t func()) {
	s.tasks <- t
}

// stop runs the queued tasks to their end and returns once every worker
// has exited.
func (s *writers) stop() {
	if s != nil {
		close(s.tasks)
		s.workers.Wait()
	}
}

// bufPool holds the buffers of small files between reading and writing.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// getBuf returns an empty pooled buffer with room for n bytes.
func getBuf(n int) *[]byte {
	b := bufPool.Get().(*[]byte)
	if cap(*b) < n {
		*b = make([]byte, 0, n)
	}
	*b = (*b)[:0]
	return b
}

func putBuf(b *[]byte) { bufPool.Put(b) }
