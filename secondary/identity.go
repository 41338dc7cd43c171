package secondary

import (
	"fmt"
	"slices"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/transport"
)

// Which primary a secondary follows. Identity is the certificate's: the
// node a server's certificate names, never the node its Welcome claims
// (the transport refuses a Welcome that names another node than the
// certificate). A secondary follows:
//
//   - the node its config names (Options.PrimaryNode), until it learns of a
//     promotion;
//   - after a promotion, the primary of the newest term in its lineage (the
//     learned primary, kept in the index meta with the lineage, so that a
//     restart keeps it), unless the config names a node that never led a
//     term this node knows of: the operator pointed it at a new primary;
//   - an old primary that rejoins (its lineage ends in its own term)
//     follows the config's node.
//
// A server whose certificate names another node is refused at the TLS
// handshake, except a node listed in Options.Promotable or the config's
// node (when the lineage made another the followed one): such a node is
// accepted only through a lineage that extends this node's own with a
// newer epoch led by that very node (a promotion this node has not seen
// yet). Holding a primary certificate is therefore not enough to be
// followed: the node must be the expected one, or promotable and ahead.

// followed says which node this secondary follows and why.
type followed struct {
	node string
	// learnedEpoch is the epoch of the term the node was learned from (0:
	// the config names it).
	learnedEpoch uint64
}

func (f followed) String() string {
	if f.learnedEpoch == 0 {
		return fmt.Sprintf("%q (primary: in the config)", f.node)
	}
	return fmt.Sprintf("%q (the primary of epoch %d, learned from the lineage)", f.node, f.learnedEpoch)
}

// expectedPrimary returns the node a secondary self, whose config names
// configured, follows given its meta (see above).
func expectedPrimary(meta index.Meta, self, configured string) followed {
	n := len(meta.Lineage)
	if n == 0 {
		return followed{node: configured}
	}
	last := meta.Lineage[n-1]
	if last.Node == self || last.Node == configured {
		return followed{node: configured}
	}
	if !slices.ContainsFunc(meta.Lineage, func(mk index.EpochMark) bool { return mk.Node == configured }) {
		return followed{node: configured} // the config was pointed at a node new to this history
	}
	return followed{node: last.Node, learnedEpoch: last.Epoch}
}

// IdentityError is a primary refused for who it is: its certificate names
// a node this secondary does not follow (and that is not promotable), or a
// promotable node whose lineage does not show it promoted after this
// node's history.
type IdentityError struct {
	Addr     string // where it was reached
	Cert     string // the node its certificate names
	Expected string // the node this secondary follows, and why
	Reason   string // what is wrong and what to change
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("refusing primary at %s: its certificate names node %q, but this node follows %s: %s",
		e.Addr, e.Cert, e.Expected, e.Reason)
}

// serverCheck is the handshake's check of a server's certificate: the
// followed node, or one of the promotable nodes (whose lineage is checked
// once its Welcome arrives, by checkPrimary).
func (s *Secondary) serverCheck(f followed, allowPromotable bool) func(pki.Identity) error {
	return func(id pki.Identity) error {
		if id.Node == f.node || allowPromotable && s.mayTakeOver(id.Node) {
			return nil
		}
		hint := fmt.Sprintf("if %q is the primary now, set primary: %s@HOST:PORT in this node's config", id.Node, id.Node)
		if allowPromotable {
			hint += fmt.Sprintf(", or list it under promotable: to follow it once it is promoted (promotable now: %q)", s.opts.Promotable)
		}
		return &IdentityError{Addr: s.opts.Primary, Cert: id.Node, Expected: f.String(),
			Reason: hint + "; otherwise something that is not this node's primary answers at that address (revoke its certificate: ncsync certs revoke)"}
	}
}

// checkPrimary decides whether this node may follow the primary that sent
// w (w.Node is its certificate's node) and returns what its lineage adds
// to this node's (see checkLineage). The followed node must continue this
// node's history; a promotable node must extend it with a newer term that
// it leads.
func (s *Secondary) checkPrimary(meta index.Meta, f followed, w transport.Welcome) (successor, error) {
	next, err := checkLineage(meta, w.Node, w.Epoch, w.Lineage)
	if err != nil || w.Node == f.node {
		return next, err
	}
	if !s.mayTakeOver(w.Node) { // the handshake let it through: a bug
		return nil, &IdentityError{Addr: s.opts.Primary, Cert: w.Node, Expected: f.String(), Reason: "it is not promotable"}
	}
	if next == nil || w.Epoch <= meta.Epoch || len(meta.Lineage) == 0 {
		return nil, &IdentityError{Addr: s.opts.Primary, Cert: w.Node, Expected: f.String(), Reason: fmt.Sprintf(
			"%q may take over, but its lineage %s does not extend this node's %s with a newer epoch that it leads, so it was not promoted after %q; if it is the primary now, set primary: %s@HOST:PORT in this node's config",
			w.Node, describeLineage(w.Lineage), describeLineage(meta.Lineage), f.node, w.Node)}
	}
	return next, nil
}

// mayTakeOver reports whether node may replace the followed primary by a
// promotion: it is promotable, or it is the config's primary node.
func (s *Secondary) mayTakeOver(node string) bool {
	return node == s.opts.PrimaryNode || slices.Contains(s.opts.Promotable, node)
}
