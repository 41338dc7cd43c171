package pki

import "errors"

// Errors from peer verification, for callers that branch on the cause
// (errors.Is). The returned errors carry a fuller message naming the peer.
var (
	// ErrNoCertificate: the peer sent no certificate.
	ErrNoCertificate = errors.New("no peer certificate")
	// ErrUnknownAuthority: the peer's certificate is not signed by this
	// cluster's CA.
	ErrUnknownAuthority = errors.New("certificate not signed by cluster CA")
	// ErrWrongCluster: the certificate names another cluster.
	ErrWrongCluster = errors.New("certificate of another cluster")
	// ErrWrongRole: the peer has the wrong role (RequireRole).
	ErrWrongRole = errors.New("peer has the wrong role")
	// ErrBadCertificate: the certificate is expired, not yet valid, has
	// the wrong key usage or carries no valid ncsync identity.
	ErrBadCertificate = errors.New("bad peer certificate")
	// ErrRevoked: the certificate is on the cluster's revocation list.
	ErrRevoked = errors.New("certificate revoked")
)

// verifyError is a verification failure: a message for people and a
// sentinel for code.
type verifyError struct {
	kind error
	msg  string
}

func (e *verifyError) Error() string { return e.msg }
func (e *verifyError) Unwrap() error { return e.kind }
