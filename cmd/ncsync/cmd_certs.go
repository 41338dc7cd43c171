package main

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/ncsync/ncsync/pki"
)

type certsInitOptions struct{ Dir string }

type certsIssueOptions struct {
	Dir  string
	Node string
	Role string
	DNS  []string
	IPs  []string
}

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create the cluster CA and issue node certificates",
		Long: `Every ncsync node authenticates with a certificate signed by the cluster's CA.
The certificate names the node and its role (primary or secondary); a
secondary certificate can never act as a primary.

  ncsync certs init  --dir /etc/ncsync/pki
  ncsync certs issue --dir /etc/ncsync/pki --node nfs1 --role primary
  ncsync certs issue --dir /etc/ncsync/pki --node nfs2 --role secondary

Copy ca.pem and the node's NAME.pem and NAME.key to that node (keep ca.key
on the machine where you issue certificates). Keys are written mode 0600.`,
	}
	var io certsInitOptions
	initCmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Create a cluster CA (DIR/ca.pem, DIR/ca.key) with a new cluster id",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCertsInit(io, c.OutOrStdout())
		},
	}
	initCmd.Flags().StringVar(&io.Dir, "dir", "", "directory for ca.pem and ca.key (created if missing)")
	initCmd.MarkFlagRequired("dir")

	var is certsIssueOptions
	issueCmd := &cobra.Command{
		Use:   "issue --dir DIR --node NAME --role primary|secondary",
		Short: "Issue a node certificate (DIR/NAME.pem, DIR/NAME.key) signed by the cluster CA",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCertsIssue(is, c.OutOrStdout())
		},
	}
	issueCmd.Flags().StringVar(&is.Dir, "dir", "", "directory holding ca.pem and ca.key")
	issueCmd.Flags().StringVar(&is.Node, "node", "", "node name, as in the config's `node` key")
	issueCmd.Flags().StringVar(&is.Role, "role", "", "primary or secondary")
	issueCmd.Flags().StringSliceVar(&is.DNS, "dns", nil, "extra DNS names for the certificate (comma separated)")
	issueCmd.Flags().StringSliceVar(&is.IPs, "ip", nil, "extra IP addresses for the certificate (comma separated)")
	for _, f := range []string{"dir", "node", "role"} {
		issueCmd.MarkFlagRequired(f)
	}
	cmd.AddCommand(initCmd, issueCmd)
	return cmd
}

func runCertsInit(o certsInitOptions, out interface{ Write([]byte) (int, error) }) error {
	id, err := pki.InitCA(o.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created cluster CA in %s (cluster id %s)\n", o.Dir, id)
	return nil
}

func runCertsIssue(o certsIssueOptions, out interface{ Write([]byte) (int, error) }) error {
	role, err := pki.ParseRole(o.Role)
	if err != nil {
		return usageError("--role: %v", err)
	}
	opts := pki.IssueOptions{DNS: o.DNS}
	for _, s := range o.IPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return usageError("--ip %q is not an IP address", s)
		}
		opts.IPs = append(opts.IPs, ip)
	}
	if err := pki.IssueWith(o.Dir, o.Node, role, opts); err != nil {
		return err
	}
	fmt.Fprintf(out, "issued %s certificate for node %q: %s/%s.pem, %s/%s.key\n", role, o.Node, o.Dir, o.Node, o.Dir, o.Node)
	return nil
}
