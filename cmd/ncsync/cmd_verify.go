package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/control"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/report"
	"github.com/ncsync/ncsync/verify"
)

// Exit codes of ncsync verify, as diff(1): 0 equal, 1 different, 2 trouble.
const (
	verifyExitDifferent = 1
	verifyExitTrouble   = 2
)

type verifyOptions struct {
	controlFlags
	Peers       []string
	JSON        bool
	IgnoreOwner bool
}

func newVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify [--peer NAME]... [--json] [--ignore-owner]",
		Short: "Compare the secondaries' trees with the primary's, reading every file on both sides",
		Long: `Run on the primary. For each secondary (default: every secondary in the
primary's config) and each folder, the primary takes a barrier (the
secondary then holds every change made so far), then both nodes walk their
tree from disk in the same order, reading every file, and the primary
compares them entry by entry: type, permission bits, owner, mtime, size,
content (the file id over the content's chunks) and symlink targets. Memory
stays bounded whatever the number of files.

The trees are live, so a path that differs is checked again after another
barrier: it is reported as a difference only if it still differs while the
primary's version did not change in between. A path that was equal when
checked again changed during the verify ("resolved"); one that kept
changing is reported as "changing". The output names the sequence each
folder was verified at.

Output: one line per finding, a line per folder and a summary; --json
prints one JSON object per line instead. Progress goes to stderr on a
terminal.

Exit status: 0 the trees are equal; 1 something differs (or kept changing,
or was not checked again); 2 the verify could not run or not every folder
could be compared (usage, no daemon, a secondary not connected).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			errOut := c.ErrOrStderr()
			return runVerify(c.Context(), o, c.OutOrStdout(), errOut, isTerminal(errOut))
		},
	}
	o.register(cmd)
	cmd.Flags().StringArrayVar(&o.Peers, "peer", nil, "secondary to compare with (repeat for several; default: every secondary in the primary's config)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print one JSON object per finding, folder and summary")
	cmd.Flags().BoolVar(&o.IgnoreOwner, "ignore-owner", false, "do not compare uid and gid (secondaries that do not run as root)")
	return cmd
}

// runVerify runs a verify through the daemon's control socket. The error
// carries the exit status.
func runVerify(ctx context.Context, o verifyOptions, out, errOut io.Writer, tty bool) error {
	for _, p := range o.Peers {
		if strings.TrimSpace(p) == "" {
			return &exitError{code: verifyExitTrouble, err: errors.New("--peer: empty name")}
		}
	}
	c, err := o.dial()
	if err != nil {
		return &exitError{code: verifyExitTrouble, err: err}
	}
	defer c.Close()
	vp := &verifyPrinter{out: out, errOut: errOut, tty: tty, json: o.JSON, start: time.Now()}
	sum, err := c.Verify(ctx, verify.Request{Peers: o.Peers, IgnoreOwner: o.IgnoreOwner}, vp.report)
	vp.clearProgress()
	if err != nil {
		return &exitError{code: verifyExitTrouble, err: fmt.Errorf("verify: %w", err)}
	}
	vp.summary(sum)
	if sum.Failed > 0 {
		return &exitError{code: verifyExitTrouble, err: fmt.Errorf("%d of %d folder comparisons could not be made (see above)", sum.Failed, sum.Folders)}
	}
	if !sum.Clean {
		return &exitError{code: verifyExitDifferent, err: errors.New("the trees differ (see above)")}
	}
	return nil
}

// verifyPrinter shows a verify's reports.
type verifyPrinter struct {
	out, errOut io.Writer
	tty, json   bool
	start       time.Time
	progress    bool // a progress line is on the terminal
}

func (vp *verifyPrinter) report(r verify.Report) {
	if r.Kind == verify.KindProgress {
		if vp.tty {
			fmt.Fprintf(vp.errOut, "\r\033[Kverifying %s %s: pass %d, %s paths compared, %s read (%s)",
				r.Peer, r.Folder, r.Pass, count(r.Compared), report.HumanBytes(int64(r.BytesRead)),
				time.Since(vp.start).Round(time.Second))
			vp.progress = true
		}
		return
	}
	vp.clearProgress()
	if vp.json {
		writeJSON(vp.out, verifyJSON(r))
		return
	}
	fmt.Fprintln(vp.out, verifyLine(r))
}

func (vp *verifyPrinter) clearProgress() {
	if vp.progress {
		fmt.Fprint(vp.errOut, "\r\033[K")
		vp.progress = false
	}
}

func (vp *verifyPrinter) summary(s control.VerifySummary) {
	if vp.json {
		writeJSON(vp.out, map[string]any{"kind": "summary", "equal": s.Clean, "folders": s.Folders, "failed": s.Failed,
			"compared": s.Compared, "differences": s.Differences, "changing": s.Changing, "resolved": s.Resolved,
			"unchecked": s.Unchecked})
		return
	}
	fmt.Fprintln(vp.out, summaryLine(s))
}

func summaryLine(s control.VerifySummary) string {
	var parts []string
	if s.Differences > 0 {
		parts = append(parts, plural(s.Differences, "difference", "differences"))
	}
	if s.Changing > 0 {
		parts = append(parts, plural(s.Changing, "path still changing", "paths still changing"))
	}
	if s.Unchecked > 0 {
		parts = append(parts, plural(s.Unchecked, "difference not rechecked", "differences not rechecked"))
	}
	if s.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d folders not verified", s.Failed, s.Folders))
	}
	what := "equal"
	if len(parts) > 0 {
		what = strings.Join(parts, ", ")
	}
	line := fmt.Sprintf("verify: %s (%s of secondaries, %s compared", what,
		plural(uint64(s.Folders), "folder", "folders"), plural(s.Compared, "path", "paths"))
	if s.Resolved > 0 {
		line += fmt.Sprintf(", %s changed during the verify and equal when checked again", plural(s.Resolved, "path", "paths"))
	}
	return line + ")"
}

// verifyLine is one report for a person.
func verifyLine(r verify.Report) string {
	where := report.Escape(r.Peer + ":" + r.Folder)
	switch r.Kind {
	case verify.KindFolder:
		res := r.Result
		s := fmt.Sprintf("%s: compared %s paths at sequence %d", where, count(res.Compared), res.Seq)
		if res.Passes > 1 {
			s += fmt.Sprintf(" (%d passes, the last at sequence %d)", res.Passes, res.LastSeq)
		}
		var parts []string
		for _, c := range []struct {
			n    uint64
			what string
		}{{res.Differences, "differences"}, {res.Changing, "still changing"}, {res.Unchecked, "not rechecked"}, {res.Resolved, "changed during the verify"}} {
			if c.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
			}
		}
		if len(parts) == 0 {
			return s + ": equal"
		}
		return s + ": " + strings.Join(parts, ", ")
	case verify.KindError:
		return fmt.Sprintf("%s: NOT VERIFIED: %s", where, report.Escape(r.Error))
	}
	label := map[verify.EventKind]string{
		verify.KindDifference: "differs", verify.KindChanging: "changing", verify.KindResolved: "resolved", verify.KindUnchecked: "differs?",
	}[r.Kind]
	detail := r.Detail() // names each aspect
	switch r.Kind {
	case verify.KindChanging:
		detail = fmt.Sprintf("changed on the primary each time it was checked (%d passes); last: %s", r.Pass, detail)
	case verify.KindResolved:
		detail = fmt.Sprintf("differed while it changed; equal when checked again at sequence %d", r.Seq)
	case verify.KindUnchecked:
		detail += " (not checked again: too many differences; run verify again once they are fixed)"
	}
	return fmt.Sprintf("%-8s %s/%s  %s", label, where, showPath(r.Path), report.Escape(detail))
}

// showPath escapes a path (report.Escape) and quotes it if it holds
// spaces.
func showPath(p string) string {
	if strings.ContainsRune(p, ' ') {
		return `"` + report.Escape(p) + `"`
	}
	return report.Escape(p)
}

func verifyJSON(r verify.Report) map[string]any {
	m := map[string]any{"kind": string(r.Kind), "peer": r.Peer, "folder": r.Folder}
	switch r.Kind {
	case verify.KindFolder:
		res := r.Result
		m["sequence"], m["passes"], m["compared"], m["bytes_read"] = res.Seq, res.Passes, res.Compared, res.BytesRead
		m["recheck_sequence"] = res.LastSeq
		m["differences"], m["changing"], m["resolved"], m["unchecked"] = res.Differences, res.Changing, res.Resolved, res.Unchecked
		return m
	case verify.KindError:
		m["error"] = r.Error
		return m
	}
	m["path"], m["sequence"], m["pass"] = r.Path, r.Seq, r.Pass
	aspects := []string{}
	if r.Aspects != 0 {
		aspects = strings.Split(r.Aspects.String(), ",")
	}
	m["aspects"] = aspects
	if r.Kind != verify.KindResolved {
		m["detail"] = r.Detail()
	}
	if e := entryJSON(r.Primary); e != nil {
		m["primary"] = e
	}
	if e := entryJSON(r.Local); e != nil {
		m["secondary"] = e
	}
	return m
}

func entryJSON(e verify.Entry) map[string]any {
	if e.Path == "" {
		return nil
	}
	m := map[string]any{"type": e.Kind.String(), "mode": fmt.Sprintf("%04o", e.Mode), "uid": e.UID, "gid": e.GID,
		"mtime": time.Unix(0, e.MtimeNs).UTC().Format(time.RFC3339Nano)}
	switch e.Kind {
	case index.KindFile:
		m["size"] = e.Size
		if e.Err == "" {
			m["file_id"] = hex.EncodeToString(e.FileID[:])
		}
	case index.KindSymlink:
		m["target"] = e.Target
	}
	if e.Err != "" {
		m["error"] = e.Err
	}
	return m
}

func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "%s\n", b)
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return count(n) + " " + many
}

// count renders n with thousands separators.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Verify implements control.Verifier when the current node does (the
// primary).
func (d *daemon) Verify(ctx context.Context, req verify.Request, report func(verify.Report) error) (bool, error) {
	v, ok := d.current().(control.Verifier)
	if !ok {
		return false, errors.New("this node is not the primary: run `ncsync verify` on the primary")
	}
	return v.Verify(ctx, req, report)
}
