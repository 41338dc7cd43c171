package main

import (
	"fmt"
	"math/big"
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
on the machine where you issue certificates). Keys are written mode 0600.

  ncsync certs revoke --dir /etc/ncsync/pki --node nfs1

revokes a certificate (DIR/crl.pem; see 'ncsync certs revoke --help').`,
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
	var ro certsRevokeOptions
	revokeCmd := &cobra.Command{
		Use:   "revoke --dir DIR --node NAME|--serial N",
		Short: "Revoke a node certificate: add it to DIR/crl.pem, signed by the cluster CA",
		Long: `Add a certificate to the cluster's revocation list DIR/crl.pem (created on the
first revocation, kept and extended after), signed by the CA in DIR.

  --node NAME    the certificate DIR/NAME.pem
  --serial N     any certificate of the CA, by serial number (decimal, or hex
                 with 0x), e.g. one issued from a copy of the CA directory

Copy crl.pem to every node (the path in its config's tls.crl) and send the
daemons SIGHUP (or restart them): from then on each refuses the certificate at
every connection, on both sides, and a primary ends a session it already had
with it. Revoke promote certificates that are no longer needed, and the old
primary's certificate after a failover.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCertsRevoke(ro, c.OutOrStdout())
		},
	}
	revokeCmd.Flags().StringVar(&ro.Dir, "dir", "", "directory holding ca.pem and ca.key")
	revokeCmd.Flags().StringVar(&ro.Node, "node", "", "revoke DIR/NAME.pem")
	revokeCmd.Flags().StringVar(&ro.Serial, "serial", "", "revoke the certificate with this serial number")
	revokeCmd.MarkFlagRequired("dir")
	revokeCmd.MarkFlagsOneRequired("node", "serial")
	revokeCmd.MarkFlagsMutuallyExclusive("node", "serial")
	cmd.AddCommand(initCmd, issueCmd, revokeCmd)
	return cmd
}

type certsRevokeOptions struct {
	Dir    string
	Node   string
	Serial string
}

func runCertsRevoke(o certsRevokeOptions, out interface{ Write([]byte) (int, error) }) error {
	var r pki.Revoked
	var err error
	switch {
	case o.Node != "" && o.Serial != "":
		return usageError("give --node or --serial, not both")
	case o.Node != "":
		r, err = pki.RevokeNode(o.Dir, o.Node)
	case o.Serial != "":
		serial, ok := new(big.Int).SetString(o.Serial, 0)
		if !ok {
			return usageError("--serial %q is not a number (decimal, or hex with 0x)", o.Serial)
		}
		r, err = pki.Revoke(o.Dir, serial)
	default:
		return usageError("give --node NAME or --serial N")
	}
	if err != nil {
		return err
	}
	what := fmt.Sprintf("certificate serial %s", r.Serial)
	if r.Node != "" {
		what = fmt.Sprintf("the certificate of node %q (serial %s)", r.Node, r.Serial)
	}
	if r.Already {
		fmt.Fprintf(out, "%s was already revoked in %s\n", what, r.Path)
		return nil
	}
	fmt.Fprintf(out, "revoked %s: %s\ncopy it to every node (tls.crl) and send the daemons SIGHUP\n", what, r.Path)
	return nil
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
