package secondary_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/primary"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/secondary"
	"github.com/ncsync/ncsync/transport"
)

// BenchmarkInitialCopy replicates a tree into an empty target with a real
// primary and secondary in this process (mutual TLS on loopback), from the
// primary's start until the secondary has acknowledged the primary's first
// full scan. The tree is NCSYNC_BENCH_TREE if set (for example the tree
// `ncsync bench --dir D --keep` generates), else a small generated mix of
// text files and random files. Run it with -cpuprofile, -blockprofile or
// -mutexprofile to see where the time of an initial copy goes; end-to-end
// numbers against rsync come from `ncsync bench`.
func BenchmarkInitialCopy(b *testing.B) {
	tree := os.Getenv("NCSYNC_BENCH_TREE")
	if tree == "" {
		tree = filepath.Join(b.TempDir(), "src")
		genTree(b, tree, 2000, 2, 16<<20)
	}
	var size int64
	_ = filepath.WalkDir(tree, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	pkiDir := b.TempDir()
	cluster, err := pki.InitCA(pkiDir)
	if err != nil {
		b.Fatal(err)
	}
	for node, role := range map[string]pki.Role{"p": pki.RolePrimary, "s": pki.RoleSecondary} {
		if err := pki.Issue(pkiDir, node, role); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		initialCopy(b, pkiDir, cluster, tree, dir)
		n++
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(n), "s/copy")
}

// initialCopy runs one copy of tree into dir/target.
func initialCopy(b *testing.B, pkiDir, cluster, tree, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	pem := func(n string) (string, string, string) {
		return filepath.Join(pkiDir, "ca.pem"), filepath.Join(pkiDir, n+".pem"), filepath.Join(pkiDir, n+".key")
	}
	pdb := openDB(b, filepath.Join(dir, "p.db"), cluster, "p", true)
	defer pdb.Close()
	sdb := openDB(b, filepath.Join(dir, "s.db"), cluster, "s", false)
	defer sdb.Close()
	target := filepath.Join(dir, "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		b.Fatal(err)
	}

	p, err := primary.New(pdb, primary.Options{Node: "p", ClusterID: cluster, Secondaries: []string{"s"},
		Folders: []config.Folder{{ID: "data", Path: tree}}, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	stls, _, err := pki.ServerTLS(pem("p"))
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := transport.NewServer(stls, transport.DefaultLimits(), p, log)
	done := make(chan struct{}, 3)
	go func() { _ = srv.Serve(lis); done <- struct{}{} }()
	go func() { _ = p.Run(ctx); done <- struct{}{} }()

	ctls, _, err := pki.ClientTLS(pem("s"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := secondary.New(sdb, secondary.Options{Node: "s", ClusterID: cluster, Primary: lis.Addr().String(), PrimaryNode: "p",
		TLS: ctls, Folders: []config.Folder{{ID: "data", Path: target}}, Log: log,
		Apply: apply.Options{Chown: os.Geteuid() == 0}, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	go func() { _ = s.Run(ctx); done <- struct{}{} }()

	// Like the bench harness: the secondary's status is cheap, the
	// primary's costs in proportion to the lag, so it is asked once a
	// second or when the secondary seems done.
	var head uint64
	var asked time.Time
	for {
		sst, err := s.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if time.Since(asked) >= time.Second || head > 0 && len(sst.Folders) == 1 && sst.Folders[0].Seq >= head {
			st, err := p.Status(ctx)
			if err != nil {
				b.Fatal(err)
			}
			asked = time.Now()
			if caughtUp(st) {
				break
			}
			if len(st.Folders) == 1 && st.Folders[0].Scans > 0 {
				head = st.Folders[0].Seq
			}
		}
		select {
		case <-ctx.Done():
			b.Fatalf("not caught up: %+v", sst)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.StopTimer()
	cancel()
	srv.Stop()
	for range 3 {
		<-done
	}
	b.StartTimer()
}

// caughtUp reports whether the primary has scanned its folder and the
// secondary acknowledged its head.
func caughtUp(st report.Node) bool {
	if len(st.Folders) != 1 || st.Folders[0].Scans == 0 || st.Folders[0].Seq == 0 {
		return false
	}
	for _, pr := range st.Peers {
		for _, pf := range pr.Folders {
			if pf.AckedSeq >= st.Folders[0].Seq {
				return true
			}
		}
	}
	return false
}

func openDB(b *testing.B, path, cluster, node string, primary bool) *index.DB {
	db, err := index.Open(path, index.Options{})
	if err != nil {
		b.Fatal(err)
	}
	m := index.Meta{ClusterID: cluster, Node: node}
	if primary {
		m.Epoch = 1
		m.Lineage = []index.EpochMark{{Epoch: 1, Node: node, Start: map[string]uint64{}, StartedNs: time.Now().UnixNano()}}
	}
	if err := db.SetMeta(m); err != nil {
		b.Fatal(err)
	}
	return db
}

// genTree writes files text files of 1–20 KiB in nested directories and
// big random files of bigSize bytes.
func genTree(b *testing.B, root string, files, big int, bigSize int) {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("function return $this->get array public private static class namespace use if else foreach echo null true false string int")
	for i := range files {
		dir := filepath.Join(root, fmt.Sprintf("app%d/lib%d", i%20, i%200))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		n := 1024 + r.IntN(20<<10)
		for sb.Len() < n {
			sb.WriteString(words[r.IntN(len(words))])
			if r.IntN(8) == 0 {
				fmt.Fprintf(&sb, "%d;\n", r.IntN(1000))
			} else {
				sb.WriteByte(' ')
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.php", i)), []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	data := make([]byte, bigSize)
	for i := range big {
		for k := 0; k+8 <= len(data); k += 8 {
			v := r.Uint64()
			for j := range 8 {
				data[k+j] = byte(v >> (8 * j))
			}
		}
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("big%d.bin", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
