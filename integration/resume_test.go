package integration

import (
	"bytes"
	"context"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/report"
)

// Resuming across a failed link and a killed secondary: what arrived is
// not sent again. The link between the secondary and the primary runs
// through a proxy that stalls it (every packet dropped, nothing closed)
// or cuts it, and counts the bytes that cross it. The files are random,
// so what crosses is their size plus a little framing.

const (
	resendBound = 8 << 20          // what may be sent again, beyond what had not arrived
	deadLink    = 15 * time.Second // both sides show the peer gone within this of a stall
)

// randomFile writes n random bytes (seeded) to path.
func randomFile(t *testing.T, path string, seed uint64, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// peerConnected reports whether st shows the named peer connected.
func peerConnected(st report.Node, name string) bool {
	for _, p := range st.Peers {
		if name == "" || p.Node == name {
			return p.Connected
		}
	}
	return false
}

// keptTemps lists the kept temp files beneath dir.
func keptTemps(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".ncsync-tmp-part-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// resumeCluster starts a primary and a secondary behind a proxy, writes
// four 8 MiB files and then one large file on the primary, and returns
// once the proxy has stalled the link after stallAt bytes toward the
// secondary.
func resumeCluster(t *testing.T, large int, stallAt int64) (c *cluster, total int, files map[string][]byte) {
	c = newCluster(t, clusterOptions{proxy: true})
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	src := c.tree(primaryName, "data")
	files = map[string][]byte{}
	c.proxy.StallAfterDown(c.downBytes() + stallAt)
	for i := range 4 {
		name := "small-" + string(rune('a'+i))
		files[name] = randomFile(t, filepath.Join(src, name), uint64(i+1), 8<<20)
		total += 8 << 20
	}
	// Journaled before the large file, so they are sent first.
	waitFor(t, convergeTimeout, func() string { return "primary did not journal the small files" }, func() bool {
		st, err := c.status(primaryName)
		return err == nil && len(st.Folders) == 1 && st.Folders[0].Files >= 4
	})
	files["large"] = randomFile(t, filepath.Join(src, "large"), 99, large)
	total += large
	waitFor(t, convergeTimeout, func() string { return "the link did not stall" }, c.proxy.Stalled)
	return c, total, files
}

func (c *cluster) downBytes() int64 {
	_, down := c.proxy.Bytes()
	return down
}

// requireFiles fails the test unless the secondary holds exactly the
// named files' data.
func requireFiles(t *testing.T, dir string, files map[string][]byte, names ...string) {
	t.Helper()
	for _, n := range names {
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil || !bytes.Equal(got, files[n]) {
			t.Fatalf("%s on the secondary: %d bytes, err %v; want its %d bytes", n, len(got), err, len(files[n]))
		}
	}
}

// A stall in the middle of a transfer: both sides show the other
// disconnected within 15 s although the secondary is only receiving, the
// files that had fully arrived are in place already, the large file's
// received part is kept, and once the link is back the transfer goes on
// with at most 8 MiB sent again.
func TestResumeAfterStall(t *testing.T) {
	c, total, files := resumeCluster(t, 96<<20, 64<<20)
	stalled := time.Now()
	var primaryGone, secondaryGone time.Duration
	waitFor(t, 2*deadLink, func() string { return "a side still shows its peer connected" }, func() bool {
		if p, err := c.status(primaryName); err == nil && primaryGone == 0 && !peerConnected(p, "nfs2") {
			primaryGone = time.Since(stalled)
		}
		if s, err := c.status("nfs2"); err == nil && secondaryGone == 0 && !peerConnected(s, "") {
			secondaryGone = time.Since(stalled)
		}
		return primaryGone > 0 && secondaryGone > 0
	})
	t.Logf("after the stall: the primary showed nfs2 disconnected after %s, nfs2 its primary after %s",
		primaryGone.Round(100*time.Millisecond), secondaryGone.Round(100*time.Millisecond))
	if primaryGone > deadLink || secondaryGone > deadLink {
		t.Errorf("disconnection shown after %s (primary) and %s (secondary); want within %s", primaryGone, secondaryGone, deadLink)
	}
	dst := c.tree("nfs2", "data")
	requireFiles(t, dst, files, "small-a", "small-b", "small-c", "small-d")
	if k := keptTemps(t, dst); len(k) != 1 {
		t.Errorf("kept temp files on the secondary: %v; want the large file's", k)
	}
	before := c.downBytes()
	c.proxy.Unstall()
	back := time.Now()
	c.waitConsistent(context.Background(), "nfs2")
	requireFiles(t, dst, files, "large")
	resent := c.downBytes() - int64(total)
	t.Logf("stall after %.1f MiB of %d MiB: %.1f MiB crossed before, %.1f MiB after; sent again (with all framing): %.2f MiB; consistent %s after the link came back",
		float64(before)/(1<<20), total>>20, float64(before)/(1<<20), float64(c.downBytes()-before)/(1<<20),
		float64(resent)/(1<<20), time.Since(back).Round(100*time.Millisecond))
	if resent > resendBound {
		t.Errorf("%.1f MiB sent again; want at most %d MiB", float64(resent)/(1<<20), resendBound>>20)
	}
	if k := keptTemps(t, dst); len(k) != 0 {
		t.Errorf("kept temp files left after catching up: %v", k)
	}
}

// The secondary killed (-9) in the middle of a transfer, the link cut:
// after its restart, what it had received is used, and at most 8 MiB is
// sent again.
func TestResumeAfterKill9(t *testing.T) {
	c, total, files := resumeCluster(t, 96<<20, 64<<20)
	dst := c.tree("nfs2", "data")
	// Let the secondary write what reached it before it dies.
	var last int64 = -1
	waitFor(t, convergeTimeout, func() string { return "the large file's temp file keeps changing" }, func() bool {
		k := keptTemps(t, dst)
		if len(k) != 1 {
			return false
		}
		st, err := os.Stat(k[0])
		if err != nil {
			return false
		}
		same := st.Size() == last
		last = st.Size()
		time.Sleep(300 * time.Millisecond)
		return same
	})
	c.kill9("nfs2")
	c.proxy.Cut()
	before := c.downBytes()
	c.proxy.Unstall()
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	requireFiles(t, dst, files, slices.Sorted(maps.Keys(files))...)
	resent := c.downBytes() - int64(total)
	t.Logf("kill -9 after %.1f MiB of %d MiB (%.1f MiB of the large file written): sent again (with all framing): %.2f MiB",
		float64(before)/(1<<20), total>>20, float64(last)/(1<<20), float64(resent)/(1<<20))
	if resent > resendBound {
		t.Errorf("%.1f MiB sent again; want at most %d MiB", float64(resent)/(1<<20), resendBound>>20)
	}
}

// A cut (every connection reset) in the middle of a transfer: the
// secondary reconnects at once and at most 8 MiB is sent again, although
// what was in flight when the connection was reset is lost.
func TestResumeAfterCut(t *testing.T) {
	c, total, files := resumeCluster(t, 96<<20, 64<<20)
	c.proxy.Cut()
	before := c.downBytes()
	c.proxy.Unstall()
	c.waitConsistent(context.Background(), "nfs2")
	requireFiles(t, c.tree("nfs2", "data"), files, slices.Sorted(maps.Keys(files))...)
	resent := c.downBytes() - int64(total)
	t.Logf("cut after %.1f MiB of %d MiB: sent again (with all framing): %.2f MiB", float64(before)/(1<<20), total>>20, float64(resent)/(1<<20))
	if resent > resendBound {
		t.Errorf("%.1f MiB sent again; want at most %d MiB", float64(resent)/(1<<20), resendBound>>20)
	}
}
