package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/pki"
)

type promoteOptions struct {
	controlFlags
	Yes     bool
	Force   bool
	Timeout time.Duration
}

func newPromoteCmd() *cobra.Command {
	var o promoteOptions
	cmd := &cobra.Command{
		Use:   "promote [--yes] [--force]",
		Short: "Make this secondary the primary of a new epoch (failover)",
		Long: `Run on a secondary when its primary is gone for good. The daemon stops
following the old primary, records a new epoch (the old one + 1) and the
sequence of each folder where it takes over, and becomes the primary in
place: it watches its folders and serves the secondaries of its config's
promote section, with the primary certificate named there.

From then on every node that has seen the new epoch refuses the old
primary. Start the old primary as a secondary of this node (a secondary
config): it keeps every change it made after the takeover as a conflict
(ncsync conflicts) and then copies this node's tree. Update this node's
config to role: primary before its next restart.

It asks for confirmation, naming the new epoch, unless --yes. It refuses
while the node holds entries it refused or failed to apply, or staged
batches never applied (they are listed), unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runPromote(c.Context(), o, c.InOrStdin(), c.OutOrStdout())
		},
	}
	o.controlFlags.register(cmd)
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.Force, "force", false, "promote even with unverified or failed items")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", time.Minute, "how long to wait for the switch")
	return cmd
}

// errNotConfirmed is the answer to anything but yes at the prompt.
var errNotConfirmed = errors.New("not promoted: not confirmed")

func runPromote(ctx context.Context, o promoteOptions, in io.Reader, out io.Writer) error {
	c, err := o.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if st.Role != pki.RoleSecondary {
		return fmt.Errorf("node %q is the %s of epoch %d: only a secondary can be promoted", st.Node, st.Role, st.Epoch)
	}
	next := st.Epoch + 1
	if !o.Yes {
		fmt.Fprintf(out, "Promote node %q to primary of epoch %d?\n", st.Node, next)
		fmt.Fprintf(out, "It stops following its primary and takes over where it stands:\n")
		for _, f := range st.Folders {
			fmt.Fprintf(out, "  folder %s at sequence %d\n", f.ID, f.Seq)
		}
		fmt.Fprintf(out, "The old primary must stay down, or come back only as a secondary of this node.\n")
		fmt.Fprintf(out, "Type yes to promote: ")
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
			return errNotConfirmed
		}
	}
	epoch, start, err := c.Promote(ctx, next, o.Force)
	if err != nil {
		return fmt.Errorf("promote %q: %w", st.Node, err)
	}
	var at []string
	for _, id := range slices.Sorted(maps.Keys(start)) {
		at = append(at, fmt.Sprintf("%s at %d", id, start[id]))
	}
	fmt.Fprintf(out, "node %q is now the primary of epoch %d (took over: %s).\n", st.Node, epoch, strings.Join(at, ", "))
	fmt.Fprintf(out, "Next: point the other secondaries at it, set role: primary in its config before its next restart,\n")
	fmt.Fprintf(out, "and start the old primary as a secondary of it (its changes since become conflicts: ncsync conflicts).\n")
	return nil
}
