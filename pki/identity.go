package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Role is a node's role in the cluster: the one its configuration names,
// its certificate was issued for and its status report shows. The zero
// value is "not set"; the wire enums convert at the edges (transport,
// control).
type Role string

// Roles a peer certificate can carry.
const (
	RolePrimary   Role = "primary"
	RoleSecondary Role = "secondary"
)

// ParseRole parses "primary" or "secondary".
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RolePrimary, RoleSecondary:
		return r, nil
	}
	return "", fmt.Errorf("invalid role %q: want primary or secondary", s)
}

func (r Role) String() string { return string(r) }

// Identity is who a peer certificate says its holder is.
type Identity struct {
	ClusterID string
	Node      string
	Role      Role
}

func (id Identity) String() string {
	return fmt.Sprintf("%s node %q of cluster %s", id.Role, id.Node, id.ClusterID)
}

// uriScheme is the scheme of the URI SANs that carry ncsync identities.
const uriScheme = "ncsync"

// caURIHost is the host part of the CA's URI SAN ncsync://cluster/<id>. It
// cannot collide with a cluster id, which is hex.
const caURIHost = "cluster"

// reservedNodes would make a peer's files collide with the CA's (NAME.pem).
var reservedNodes = map[string]bool{"ca": true}

// ValidNodeName reports whether name can name a node: a lower-case DNS
// label (a-z, 0-9 and '-', 1 to 63 bytes, not starting or ending with '-'),
// and not a reserved name.
func ValidNodeName(name string) error {
	if name == "" {
		return errors.New("node name is empty")
	}
	if len(name) > 63 {
		return fmt.Errorf("node name %q is longer than 63 bytes", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(name)-1
		if !ok {
			return fmt.Errorf("invalid node name %q: use lower-case letters, digits and inner '-' (a DNS label)", name)
		}
	}
	if reservedNodes[name] {
		return fmt.Errorf("node name %q is reserved (its files would overwrite the CA's)", name)
	}
	return nil
}

// validClusterID reports whether id has the form InitCA generates: 32
// lower-case hex digits.
func validClusterID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func peerURI(id Identity) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: id.ClusterID, Path: "/" + string(id.Role) + "/" + id.Node}
}

func caURI(clusterID string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: caURIHost, Path: "/" + clusterID}
}

// plainURI reports whether u has nothing beyond scheme, host and a path that
// needs no escaping, so its parts can be compared as strings.
func plainURI(u *url.URL) bool {
	return u.Opaque == "" && u.User == nil && u.RawPath == "" && u.RawQuery == "" &&
		!u.ForceQuery && u.Fragment == "" && u.RawFragment == "" && !u.OmitHost
}

// CertIdentity returns the identity carried by a peer certificate: its one
// ncsync URI SAN, which must agree with its common name. It does not verify
// the signature; see ServerTLS and ClientTLS for that.
func CertIdentity(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, errors.New("no certificate")
	}
	var found *url.URL
	for _, u := range cert.URIs {
		if u == nil || u.Scheme != uriScheme {
			continue
		}
		if found != nil {
			return Identity{}, fmt.Errorf("certificate %q has more than one %s:// URI SAN", cert.Subject.CommonName, uriScheme)
		}
		found = u
	}
	if found == nil {
		return Identity{}, fmt.Errorf("certificate %q has no %s:// URI SAN: it was not issued by ncsync certs issue", cert.Subject.CommonName, uriScheme)
	}
	id, err := parsePeerURI(found)
	if err != nil {
		return Identity{}, fmt.Errorf("certificate %q: %w", cert.Subject.CommonName, err)
	}
	if cert.Subject.CommonName != id.Node {
		return Identity{}, fmt.Errorf("certificate common name %q does not match node %q in its URI SAN", cert.Subject.CommonName, id.Node)
	}
	return id, nil
}

func parsePeerURI(u *url.URL) (Identity, error) {
	bad := func(why string) (Identity, error) {
		return Identity{}, fmt.Errorf("malformed URI SAN %q: %s (want %s://<cluster>/<role>/<node>)", u.String(), why, uriScheme)
	}
	if !plainURI(u) {
		return bad("unexpected URI parts")
	}
	if u.Host == caURIHost {
		return bad("this is a CA certificate, not a peer certificate")
	}
	if !validClusterID(u.Host) {
		return bad("cluster id is not 32 lower-case hex digits")
	}
	parts := strings.Split(u.Path, "/")
	if len(parts) != 3 || parts[0] != "" {
		return bad("path is not /<role>/<node>")
	}
	role, err := ParseRole(parts[1])
	if err != nil {
		return bad(err.Error())
	}
	if err := ValidNodeName(parts[2]); err != nil {
		return bad(err.Error())
	}
	return Identity{ClusterID: u.Host, Role: role, Node: parts[2]}, nil
}

// caClusterID returns the cluster id carried by a CA certificate's URI SAN
// ncsync://cluster/<id>.
func caClusterID(cert *x509.Certificate) (string, error) {
	if !cert.IsCA {
		return "", errors.New("not a CA certificate")
	}
	var id string
	for _, u := range cert.URIs {
		if u == nil || u.Scheme != uriScheme {
			continue
		}
		if id != "" {
			return "", fmt.Errorf("more than one %s:// URI SAN", uriScheme)
		}
		if !plainURI(u) || u.Host != caURIHost || len(u.Path) < 1 || !validClusterID(u.Path[1:]) {
			return "", fmt.Errorf("malformed URI SAN %q (want %s://%s/<cluster id>)", u.String(), uriScheme, caURIHost)
		}
		id = u.Path[1:]
	}
	if id == "" {
		return "", fmt.Errorf("no %s://%s/ URI SAN: not an ncsync cluster CA", uriScheme, caURIHost)
	}
	return id, nil
}

// RequireRole returns an error naming the peer unless id has role want.
func RequireRole(id Identity, want Role) error {
	if id.Role == want {
		return nil
	}
	return &verifyError{
		kind: ErrWrongRole,
		msg:  fmt.Sprintf("peer %q has role %s; a %s is required", id.Node, id.Role, want),
	}
}
