package integration

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/report"
)

// TestUnknownNodeRefused starts a secondary whose certificate is valid
// (issued by the cluster CA) but whose name is not in the primary's
// secondaries: it replicates nothing, and a log or its status says that
// the node is not in secondaries. A listed secondary replicates meanwhile.
func TestUnknownNodeRefused(t *testing.T) {
	skipShort(t)
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	c.addNode("nfs9", "secondary", c.issue(c.pkiDir, "nfs9", "secondary"))
	smallTree(t, c.tree(primaryName, "data"), 200, 6)
	c.start(primaryName)
	c.start("nfs2")
	c.start("nfs9")
	c.waitConsistent(context.Background(), "nfs2")

	var where string
	waitFor(t, 30*time.Second, func() string {
		return "no message naming nfs9 and saying it is not in secondaries, in the primary's log, nfs9's log or nfs9's status"
	}, func() bool {
		where = findMessage(c, []string{primaryName, "nfs9"}, "nfs9", "nfs9", "not", "secondaries")
		return where != ""
	})
	t.Logf("refusal found in %s", where)
	requireNothingReplicated(t, c, "nfs9")
}

// TestForeignCARefused starts a secondary named in the primary's config but
// with a certificate from another CA: it is refused, replicates nothing,
// and its status or log mentions the certificate.
func TestForeignCARefused(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, tc := range []struct {
		name       string
		trustOwnCA bool // the node trusts its own CA, not the cluster's
	}{
		{"own CA", true},
		{"cluster CA, foreign certificate", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, clusterOptions{secondaries: []string{"nfs2", "nfs3"}})
			other := filepath.Join(c.dir, "other-pki")
			c.mustCLI("certs", "init", "--dir", other)
			tls := c.issue(other, "nfs3", "secondary")
			if !tc.trustOwnCA {
				tls[0] = filepath.Join(c.pkiDir, "ca.pem")
			}
			c.addNode("nfs3", "secondary", tls)
			smallTree(t, c.tree(primaryName, "data"), 200, 7)
			c.start(primaryName)
			c.start("nfs2")
			c.startNoWait("nfs3")
			c.waitConsistent(context.Background(), "nfs2")

			var where string
			waitFor(t, 30*time.Second, func() string {
				return "nfs3 (foreign certificate) neither exited nor reported a certificate problem in its log or status"
			}, func() bool {
				where = findMessage(c, []string{"nfs3"}, "nfs3", "certificate")
				return where != ""
			})
			t.Logf("refusal found in %s (nfs3 exited: %v, %v)", where, c.exited("nfs3"), c.exitErr("nfs3"))
			if pl := findMessage(c, []string{primaryName}, "", "certificate"); pl != "" {
				t.Logf("the primary logged: %s", pl)
			}
			requireNothingReplicated(t, c, "nfs3")
		})
	}
}

// findMessage looks for a line that contains all words (case-insensitive)
// in the logs of the named nodes and in the status LastError of node
// statusOf (if not empty and running). It returns where and the line, or "".
func findMessage(c *cluster, logsOf []string, statusOf string, words ...string) string {
	if statusOf != "" && c.running(statusOf) {
		if st, err := c.status(statusOf); err == nil {
			for _, p := range st.Peers {
				if mentions(p.LastError, words...) {
					return statusOf + "'s status: " + p.LastError
				}
			}
			for _, f := range st.Folders {
				if mentions(f.LastError, words...) {
					return statusOf + "'s folder status: " + f.LastError
				}
			}
		}
	}
	for _, name := range logsOf {
		data, _ := os.ReadFile(c.node(name).logPath)
		for line := range strings.SplitSeq(string(data), "\n") {
			if mentions(line, words...) {
				return name + "'s log: " + line
			}
		}
	}
	return ""
}

// mentions reports whether s contains every word, ignoring case.
func mentions(s string, words ...string) bool {
	if s == "" {
		return false
	}
	s = strings.ToLower(s)
	for _, w := range words {
		if !strings.Contains(s, strings.ToLower(w)) {
			return false
		}
	}
	return true
}

// requireNothingReplicated checks that the refused node's tree is still
// empty, and that the primary does not show it acknowledging anything.
func requireNothingReplicated(t *testing.T, c *cluster, name string) {
	t.Helper()
	for id, tree := range c.node(name).trees {
		ents, err := os.ReadDir(tree)
		if err != nil {
			t.Fatal(err)
		}
		ents = slices.DeleteFunc(ents, func(e os.DirEntry) bool { return e.Name() == tempDirName })
		if len(ents) > 0 {
			t.Errorf("refused node %s has %d entries in folder %s, e.g. %q", name, len(ents), id, ents[0].Name())
		}
	}
	st := c.mustStatus(primaryName)
	if i := slices.IndexFunc(st.Peers, func(p report.Peer) bool { return p.Node == name }); i >= 0 {
		p := st.Peers[i]
		for _, f := range p.Folders {
			if f.AckedSeq > 0 {
				t.Errorf("the primary shows refused node %s at acked seq %d in folder %s", name, f.AckedSeq, f.Folder)
			}
		}
		if p.Connected {
			t.Errorf("the primary shows refused node %s as connected", name)
		}
	}
}
