// Command ncsync replicates Nextcloud webroots and data directories from a
// primary to secondaries. This package is the composition root: it builds
// the pieces (index, scanner, transport, writer, control socket) and wires
// them; each subcommand lives in its own cmd_*.go file.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/report"
)

// Exit codes (DESIGN.md): 0 success, 1 failure, 2 usage, 3 timeout.
const (
	exitFailure = 1
	exitUsage   = 2
	exitTimeout = 3
)

// exitError carries an exit code from a command to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "ncsync:", escapeLines(err.Error()))
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case isCobraUsage(err):
		os.Exit(exitUsage)
	default:
		os.Exit(exitFailure)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ncsync",
		Short: "Replicate Nextcloud webroots and data directories to warm secondaries",
		Long: `ncsync replicates directory trees (a Nextcloud webroot and its data directory)
from a primary to one or more secondaries in near real time, over gRPC with
mutual TLS. Changed files are cut into content-defined chunks and only the
chunks a secondary lacks are sent. Every write on a secondary is crash-safe.

Start with 'ncsync demo' to watch it replicate on this machine, then see
'ncsync certs --help' and 'ncsync run --help' to set up real nodes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(newDemoCmd(), newCertsCmd(), newRunCmd(), newStatusCmd(), newBenchCmd(),
		newPauseCmd(), newResumeCmd(), newSnapshotCmd(), newBarrierCmd())
	root.AddCommand(newConflictsCmd())
	root.AddCommand(newPromoteCmd())
	root.AddCommand(newVerifyCmd(), newChangesCmd())
	root.AddCommand(newVersionCmd(), newManpagesCmd())
	return root
}

// isCobraUsage recognises cobra's own argument errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// escapeLines escapes each line of a message for the terminal
// (report.Escape), keeping its line breaks.
func escapeLines(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = report.Escape(l)
	}
	return strings.Join(lines, "\n")
}
