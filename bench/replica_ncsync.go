package bench

import (
	"context"
	"time"
)

// ncsyncReplica is a primary and a secondary (`ncsync run`), the
// secondary following the primary through the counting proxy.
type ncsyncReplica struct {
	run ncsyncRun
	tn  *targetNet
	c   *cluster
}

func (n *ncsyncReplica) start(_ context.Context, src, dst, dir string) error {
	c, err := startCluster(clusterSpec{bin: n.run.bin, pki: n.run.pki, dir: dir, sockDir: n.run.sockDir,
		src: src, dst: dst, scanInterval: n.run.scanInterval, tn: n.tn, profileDir: n.run.profileDir, bandwidth: n.run.bandwidth})
	n.c = c
	return err
}

func (n *ncsyncReplica) sync(context.Context) error { return nil }

func (n *ncsyncReplica) procs() (source, target []int) {
	if n.c == nil {
		return nil, nil
	}
	return []int{n.c.primary.Pid()}, []int{n.c.secondary.Pid()}
}

func (n *ncsyncReplica) extraCPU() (source, target time.Duration) { return 0, 0 }

func (n *ncsyncReplica) wire() (toTarget, toSource int64) {
	up, down := n.c.proxy.Bytes() // the secondary dials
	return down, up
}

func (n *ncsyncReplica) alive() error            { return n.c.running() }
func (n *ncsyncReplica) compare() compareOptions { return ncsyncCompare }
func (n *ncsyncReplica) note() string {
	return "ncsync: `ncsync run` primary and secondary with their default settings, mutual TLS"
}

func (n *ncsyncReplica) stop() {
	if n.c != nil {
		n.c.stop()
	}
}
