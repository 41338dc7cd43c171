// Package bench is ncsync's benchmark harness: a deterministic workload
// generator and runners that copy the same tree with rsync and with real
// ncsync daemons, measuring wall time, bytes on the wire, CPU and memory.
package bench
