package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/verify"
)

// verifyDaemon is a primary as the control socket sees it, answering a
// verify with fixed reports.
type verifyDaemon struct {
	reports []verify.Report
	clean   bool
	err     error
}

func (d *verifyDaemon) Status(context.Context) (report.Node, error) {
	return report.Node{Node: "nfs1", Role: pki.RolePrimary}, nil
}

func (d *verifyDaemon) Verify(_ context.Context, _ verify.Request, report func(verify.Report) error) (bool, error) {
	for _, r := range d.reports {
		if err := report(r); err != nil {
			return false, err
		}
	}
	return d.clean, d.err
}

func folderDone(peer string, res verify.Result) verify.Report {
	return verify.Report{Peer: peer, Event: verify.Event{Kind: verify.KindFolder, Folder: res.Folder, Seq: res.Seq}, Result: &res}
}

func TestRunVerify(t *testing.T) {
	content := verify.Report{Peer: "nfs2", Event: verify.Event{Kind: verify.KindDifference, Folder: "data", Pass: 2, Seq: 12,
		Difference: verify.Difference{Folder: "data", Path: "photos/a b.jpg", Aspects: verify.Content,
			Primary: verify.Entry{Path: "photos/a b.jpg", Kind: index.KindFile, Mode: 0o644, FileID: chunker.Sum([]byte("p"))},
			Local:   verify.Entry{Path: "photos/a b.jpg", Kind: index.KindFile, Mode: 0o644, FileID: chunker.Sum([]byte("s"))}}}}
	missing := verify.Report{Peer: "nfs2", Event: verify.Event{Kind: verify.KindDifference, Folder: "data", Pass: 2, Seq: 12,
		Difference: verify.Difference{Folder: "data", Path: "gone.txt", Aspects: verify.Missing,
			Primary: verify.Entry{Path: "gone.txt", Kind: index.KindFile, Mode: 0o644}}}}
	progress := verify.Report{Peer: "nfs2", Event: verify.Event{Kind: verify.KindProgress, Folder: "data", Pass: 1, Compared: 5000, BytesRead: 1 << 20}}
	for _, tc := range []struct {
		name     string
		daemon   *verifyDaemon
		json     bool
		code     int
		contains []string
	}{
		{"equal", &verifyDaemon{clean: true, reports: []verify.Report{progress, folderDone("nfs2", verify.Result{Folder: "data", Seq: 12, Passes: 1, Compared: 5001})}},
			false, 0, []string{"nfs2:data: compared 5,001 paths at sequence 12: equal", "verify: equal (1 folder of secondaries, 5,001 paths compared)"}},
		{"different", &verifyDaemon{reports: []verify.Report{content, missing,
			folderDone("nfs2", verify.Result{Folder: "data", Seq: 12, LastSeq: 14, Passes: 2, Compared: 5001, Differences: 2, Resolved: 1})}},
			false, 1, []string{`differs  nfs2:data/"photos/a b.jpg"  content: file id`, "differs  nfs2:data/gone.txt  missing on the secondary",
				"at sequence 12 (2 passes, the last at sequence 14): 2 differences, 1 changed during the verify", "verify: 2 differences"}},
		{"json", &verifyDaemon{reports: []verify.Report{missing, folderDone("nfs2", verify.Result{Folder: "data", Seq: 12, Compared: 3, Differences: 1})}},
			true, 1, []string{`"aspects":["missing"]`, `"kind":"summary"`}},
		{"not connected", &verifyDaemon{reports: []verify.Report{{Peer: "nfs3", Event: verify.Event{Kind: verify.KindError, Folder: "data"}, Error: `secondary "nfs3" is not connected`}}},
			false, 2, []string{`nfs3:data: NOT VERIFIED: secondary "nfs3" is not connected`}},
		{"unknown peer", &verifyDaemon{err: errors.New(`verify: peer "nfs9" is not a configured secondary`)},
			false, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := verifyOptions{JSON: tc.json}
			o.Socket = serveControl(t, tc.daemon)
			var out, errOut bytes.Buffer
			tty := tc.name == "equal" // progress is shown on a terminal only
			err := runVerify(context.Background(), o, &out, &errOut, tty)
			code := 0
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			} else if err != nil {
				code = -1
			}
			if code != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.code, out.String())
			}
			for _, s := range tc.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
			if strings.Contains(out.String(), "5,000 paths") {
				t.Error("progress printed to stdout")
			}
			if got := strings.Contains(errOut.String(), "verifying nfs2 data: pass 1, 5,000 paths compared, 1.0 MiB read"); got != tty {
				t.Errorf("progress on stderr %v, want %v: %q", got, tty, errOut.String())
			}
			if tc.json {
				for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil {
						t.Errorf("line %q is not JSON: %v", l, err)
					}
				}
			}
		})
	}
}

// TestPeerStringsEscaped: what a secondary sends (paths, symlink targets,
// error texts) reaches the terminal with every non-printable rune escaped:
// C0 and C1 controls, DEL, bidirectional overrides, invalid UTF-8.
func TestPeerStringsEscaped(t *testing.T) {
	const evil = "a\x1b]0;owned\x07\u009b2J\u202egnp.php\x7f\xff"
	link := verify.Entry{Path: "x" + evil, Kind: index.KindSymlink, Mode: 0o777, Target: "t" + evil}
	lines := []string{
		verifyLine(verify.Report{Peer: "nfs2", Event: verify.Event{Kind: verify.KindDifference, Folder: "data",
			Difference: verify.Difference{Path: "x" + evil, Aspects: verify.Target, Primary: link, Local: verify.Entry{Path: link.Path, Kind: index.KindSymlink, Mode: 0o777, Target: "u"}}}}),
		verifyLine(verify.Report{Peer: "nfs2", Event: verify.Event{Kind: verify.KindError, Folder: "data"}, Error: "walk: " + evil}),
	}
	var out bytes.Buffer
	printStatus(&out, report.Node{Node: "nfs1", Role: pki.RoleSecondary, Folders: []report.Folder{{ID: "data", LastError: evil, Degraded: evil}},
		Peers: []report.Peer{{Node: "p" + evil, Role: pki.RolePrimary, LastError: evil, Folders: []report.PeerFolder{{Folder: "data"}}}}}, time.Now())
	lines = append(lines, out.String())
	lines = append(lines, barrierLines(report.BarrierProgress{Peers: []report.BarrierPeer{{Node: "n" + evil, Message: evil}}})...)
	var conf bytes.Buffer
	printConflicts(&conf, []preserve.Record{{Folder: "data", Path: "x" + evil, Node: "n" + evil, Cause: preserve.Cause(evil), Reason: evil}})
	lines = append(lines, conf.String())
	for _, l := range lines {
		if i := strings.IndexFunc(l, func(r rune) bool { return r != '\n' && (r == utf8.RuneError || !unicode.IsPrint(r)) }); i >= 0 {
			t.Errorf("unescaped %q in %q", l[i:], l)
		}
	}
}
