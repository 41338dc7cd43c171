package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ServerTLS returns the primary's TLS configuration: TLS 1.3 only, and every
// client must present a certificate signed by the cluster CA in caFile that
// names this cluster. It also returns this node's own identity, after
// checking that certFile is signed by that CA.
//
// The client certificate is verified in VerifyConnection rather than by
// crypto/tls (ClientAuth is RequestClientCert) so that a refusal says why;
// the checks are those of RequireAndVerifyClientCert plus the cluster id.
// As a consequence ConnectionState.VerifiedChains stays empty: use
// PeerIdentity on the connection state.
func ServerTLS(caFile, certFile, keyFile string, opts ...Option) (*tls.Config, Identity, error) {
	v, cert, self, err := load(caFile, certFile, keyFile, x509.ExtKeyUsageServerAuth, opts)
	if err != nil {
		return nil, Identity{}, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		// No ClientCAs: advertising them makes a client whose certificate
		// is from another CA send none, and the refusal would then say
		// "no certificate" instead of naming the real problem.
		// Every connection runs the full verification; no resumption
		// path to reason about.
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := v.verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, "peer presented no client certificate")
			return err
		},
	}
	return cfg, self, nil
}

// ClientTLS returns the secondary's TLS configuration: TLS 1.3 only, with
// this node's certificate, accepting a server whose certificate is signed by
// the cluster CA in caFile and names this cluster, whatever host name or IP
// address it was dialled by. It also returns this node's own identity.
//
// Host name verification is replaced by the identity check
// (InsecureSkipVerify plus a full chain verification in VerifyConnection).
func ClientTLS(caFile, certFile, keyFile string, opts ...Option) (*tls.Config, Identity, error) {
	v, cert, self, err := load(caFile, certFile, keyFile, x509.ExtKeyUsageClientAuth, opts)
	if err != nil {
		return nil, Identity{}, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      v.pool,
		// The chain is verified in VerifyConnection; only the host name
		// check is skipped, since peers are named by their URI SAN.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := v.verify(cs.PeerCertificates, x509.ExtKeyUsageServerAuth, "server presented no certificate")
			return err
		},
	}
	return cfg, self, nil
}

// PeerIdentity returns the identity in the peer's leaf certificate. It
// relies on the handshake having been made with a configuration from
// ServerTLS or ClientTLS, which verified the chain and the cluster.
func PeerIdentity(cs tls.ConnectionState) (Identity, error) {
	if !cs.HandshakeComplete {
		return Identity{}, errors.New("TLS handshake not complete")
	}
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, &verifyError{kind: ErrNoCertificate, msg: "peer presented no certificate"}
	}
	return CertIdentity(cs.PeerCertificates[0])
}

// Option tunes ServerTLS and ClientTLS.
type Option func(*verifier)

// WithRevocations refuses every certificate that r lists, the peer's at
// each handshake and this node's own when the configuration is made.
func WithRevocations(r *Revocations) Option {
	return func(v *verifier) { v.rev = r }
}

// verifier checks peer certificates against one cluster CA.
type verifier struct {
	pool      *x509.CertPool
	clusterID string
	now       func() time.Time
	rev       *Revocations // nil: nothing revoked
}

// load reads the CA and this node's key pair and checks that the pair
// belongs to the CA's cluster and may be used for usage.
func load(caFile, certFile, keyFile string, usage x509.ExtKeyUsage, opts []Option) (*verifier, tls.Certificate, Identity, error) {
	ca, clusterID, err := loadCACert(caFile)
	if err != nil {
		return nil, tls.Certificate{}, Identity{}, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	v := &verifier{pool: pool, clusterID: clusterID, now: time.Now}
	for _, o := range opts {
		o(v)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, tls.Certificate{}, Identity{}, fmt.Errorf("load certificate %q and key %q: %w", certFile, keyFile, err)
	}
	chain := make([]*x509.Certificate, 0, len(cert.Certificate))
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, tls.Certificate{}, Identity{}, fmt.Errorf("parse certificate %q: %w", certFile, err)
		}
		chain = append(chain, c)
	}
	self, err := v.verify(chain, usage, "no certificate")
	if err != nil {
		return nil, tls.Certificate{}, Identity{}, fmt.Errorf("own certificate %q (CA %q): %w", certFile, caFile, err)
	}
	return v, cert, self, nil
}

// verify checks that chain[0] is signed by the cluster CA (chain[1:] may
// hold intermediates), is valid now for usage, and carries an identity in
// this cluster. noCert is the message when the chain is empty.
func (v *verifier) verify(chain []*x509.Certificate, usage x509.ExtKeyUsage, noCert string) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, &verifyError{kind: ErrNoCertificate, msg: noCert}
	}
	leaf := chain[0]
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.pool,
		Intermediates: intermediates,
		CurrentTime:   v.now(),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return Identity{}, verifyFailure(leaf, err)
	}
	id, err := CertIdentity(leaf)
	if err != nil {
		return Identity{}, &verifyError{kind: ErrBadCertificate, msg: err.Error()}
	}
	if v.rev != nil && v.rev.revoked(leaf) {
		return Identity{}, &verifyError{
			kind: ErrRevoked,
			msg:  fmt.Sprintf("the certificate of node %q (serial %s) is revoked by the cluster's revocation list %s", id.Node, leaf.SerialNumber, v.rev.Path()),
		}
	}
	if id.ClusterID != v.clusterID {
		return Identity{}, &verifyError{
			kind: ErrWrongCluster,
			msg:  fmt.Sprintf("certificate of node %q is for cluster %s, not %s", id.Node, id.ClusterID, v.clusterID),
		}
	}
	return id, nil
}

// verifyFailure explains an x509 verification error. The subject is
// quoted since it is not trusted.
func verifyFailure(leaf *x509.Certificate, err error) error {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return &verifyError{
			kind: ErrUnknownAuthority,
			msg:  fmt.Sprintf("certificate is not signed by this cluster's CA (it names %q, issued by %q)", leaf.Subject.CommonName, leaf.Issuer.CommonName),
		}
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) {
		switch invalid.Reason {
		case x509.Expired:
			return &verifyError{
				kind: ErrBadCertificate,
				msg: fmt.Sprintf("certificate %q is not valid now (valid %s to %s): %v; reissue it with ncsync certs issue",
					leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), err),
			}
		case x509.IncompatibleUsage:
			return &verifyError{kind: ErrBadCertificate, msg: fmt.Sprintf("certificate %q may not be used here: %v", leaf.Subject.CommonName, err)}
		}
	}
	return &verifyError{kind: ErrBadCertificate, msg: fmt.Sprintf("verify certificate %q: %v", leaf.Subject.CommonName, err)}
}
