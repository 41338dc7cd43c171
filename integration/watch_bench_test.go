package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/status"
)

// BenchmarkWatchLatency measures, with real daemons on loopback and the
// default watch settings (quiet 75ms, max_latency 500ms), how long a small
// file written on the primary takes to be on the secondary whole and
// verified (its bytes read back and compared). Files are written one at a
// time, each after the previous one arrived; it reports the median, 90th
// percentile and maximum. For the watcher's targets (median ≤ 150 ms, max
// ≤ 500 ms) run it with 50 writes:
//
//	go test -run '^$' -bench WatchLatency -benchtime 50x ./integration/
func BenchmarkWatchLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark with real daemons; skipped with -short")
	}
	for _, bc := range []struct {
		name      string
		overwrite bool
	}{{"create", false}, {"overwrite", true}} {
		b.Run(bc.name, func(b *testing.B) {
			pair := startBenchPair(b)
			dir := filepath.Join(pair.primary, "bench")
			if bc.overwrite {
				if err := os.WriteFile(filepath.Join(dir, "same.txt"), []byte("first"), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("f%05d.txt", i)
				if bc.overwrite {
					name = "same.txt"
				}
				data := randBytes(uint64(1000+i), 2*kiB+i%512)
				start := time.Now()
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					b.Fatal(err)
				}
				if err := waitContent(filepath.Join(pair.secondary, "bench", name), data, 10*time.Second); err != nil {
					b.Fatalf("write %d: %v", i, err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(lat[len(lat)/2]), "ms-median")
			b.ReportMetric(ms(lat[len(lat)*9/10]), "ms-p90")
			b.ReportMetric(ms(lat[len(lat)-1]), "ms-max")
		})
	}
}

// waitContent polls path every millisecond until it holds exactly want.
func waitContent(path string, want []byte, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() == int64(len(want)) {
			if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, want) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%q does not hold the %d bytes written after %s", path, len(want), timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// benchPair is a primary (nfs1) and a secondary (nfs2), each a real
// `ncsync run` with the daemon's default scan and watch settings, one
// folder (data, holding an empty directory bench), replicated and stopped
// at the end of the benchmark. The cluster helper takes a *testing.T, so
// benchmarks use this one. With NCSYNC_BENCH_LOGS=DIR, the daemons log at
// debug level into DIR/<node>.log, kept after the run.
type benchPair struct {
	primary, secondary string         // the folder's trees
	pid                map[string]int // daemon process ids by node name
	socket             string         // the primary's control socket
}

// benchPairOptions change startBenchPair's pair.
type benchPairOptions struct {
	// populate, if set, fills the primary's tree before the daemons start.
	populate func(tree string)
	// syncTimeout bounds the wait for the first sync (default startTimeout).
	syncTimeout time.Duration
}

func startBenchPair(b *testing.B) benchPair {
	b.Helper()
	return startBenchPairWith(b, benchPairOptions{})
}

func startBenchPairWith(b *testing.B, opts benchPairOptions) benchPair {
	b.Helper()
	dir := b.TempDir()
	sockDir, err := os.MkdirTemp("", "ncb")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(sockDir) })
	pki := filepath.Join(dir, "pki")
	benchCLI(b, "certs", "init", "--dir", pki)
	addr := fmt.Sprintf("127.0.0.1:%d", benchPort(b))
	var pair benchPair
	specs := map[string]*nodeSpec{}
	for _, n := range []struct{ name, role string }{{primaryName, "primary"}, {"nfs2", "secondary"}} {
		benchCLI(b, "certs", "issue", "--dir", pki, "--node", n.name, "--role", n.role)
		base := filepath.Join(dir, n.name)
		tree := filepath.Join(base, "tree-data")
		if err := os.MkdirAll(filepath.Join(tree, "bench"), 0o755); err != nil {
			b.Fatal(err)
		}
		specs[n.name] = &nodeSpec{
			name: n.name, role: n.role,
			stateDir: filepath.Join(base, "state"), socket: filepath.Join(sockDir, n.name, "control.sock"),
			addr: addr, secondaries: []string{"nfs2"},
			tls:     [3]string{filepath.Join(pki, "ca.pem"), filepath.Join(pki, n.name+".pem"), filepath.Join(pki, n.name+".key")},
			folders: []folderSpec{{"data", tree}},
			watch:   watchConfig{daemonDefaults: true},
		}
		writeNodeConfig(b, filepath.Join(base, "ncsync.yaml"), *specs[n.name])
	}
	pair.primary, pair.secondary = specs[primaryName].folders[0].path, specs["nfs2"].folders[0].path
	pair.pid, pair.socket = map[string]int{}, specs[primaryName].socket
	if opts.populate != nil {
		opts.populate(pair.primary)
	}
	for _, name := range []string{"nfs2", primaryName} {
		base := filepath.Join(dir, name)
		logPath := filepath.Join(base, "daemon.log")
		args := []string{"run", "--config", filepath.Join(base, "ncsync.yaml")}
		if d := os.Getenv("NCSYNC_BENCH_LOGS"); d != "" {
			// Debug logs kept for a look after the run.
			logPath = filepath.Join(d, name+".log")
			args = append(args, "--log-level", "debug")
		}
		logf, err := os.Create(logPath)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(ncsyncBin, args...)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		pair.pid[name] = cmd.Process.Pid
		b.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logf.Close()
			if b.Failed() {
				b.Logf("----- log of %s -----\n%s", name, tail(logPath, 60))
			}
		})
	}
	// Replicated: the secondary has acknowledged the head, bench/ included.
	wait := cmpDuration(opts.syncTimeout, startTimeout)
	deadline := time.Now().Add(wait)
	for {
		st, err := benchStatus(specs[primaryName].socket)
		if err == nil && len(st.Peers) == 1 && st.Peers[0].Connected {
			if ok, _ := acked(st, []string{"nfs2"}); ok && st.Folders[0].Seq > 0 && st.Folders[0].Watched > 0 {
				return pair
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the pair did not get in sync within %s: %+v %v", wait, st, err)
		}
		time.Sleep(pollEvery)
	}
}

func benchCLI(b *testing.B, args ...string) {
	b.Helper()
	if out, errOut, code, err := cli(context.Background(), args...); err != nil || code != 0 {
		b.Fatalf("ncsync %s: exit %d, %v\n%s%s", strings.Join(args, " "), code, err, out, errOut)
	}
}

func benchStatus(socket string) (status.Node, error) {
	var st status.Node
	out, errOut, code, err := cli(context.Background(), "status", "--json", "--socket", socket)
	if err != nil || code != 0 {
		return st, fmt.Errorf("status: exit %d, %v: %s", code, err, errOut)
	}
	return st, json.Unmarshal([]byte(out), &st)
}

func benchPort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
