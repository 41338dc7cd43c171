package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/pki"
)

// tlsMaterial is what the daemon's TLS configurations read at every
// handshake and SIGHUP reloads: the revocation lists of tls.crl (and
// promote.tls.crl), and this node's certificates and keys (a renewed
// certificate written over the old files).
type tlsMaterial struct {
	mu    sync.Mutex
	lists []*pki.Revocations
	pairs []*keyPair
}

// keyPair is a certificate and key that the TLS configuration hands out
// at each handshake, read again from its files on reload.
type keyPair struct {
	t    config.TLS
	key  string // the config keys, for messages
	role pki.Role
	id   pki.Identity
	cert atomic.Pointer[tls.Certificate]
}

// reload reads the pair's files again; a certificate for another identity
// (node, role, cluster) or one that does not verify is refused and the
// one in use kept.
func (kp *keyPair) reload() (bool, error) {
	tlsFor := pki.ServerTLS
	if kp.role == pki.RoleSecondary {
		tlsFor = pki.ClientTLS
	}
	conf, id, err := tlsFor(kp.t.CA, kp.t.Cert, kp.t.Key)
	if err != nil {
		return false, fmt.Errorf("%s: %w", kp.key, err)
	}
	if id != kp.id {
		return false, fmt.Errorf("%s.cert %s is now for %s, and this daemon runs as %s: restart it to change identity", kp.key, kp.t.Cert, id, kp.id)
	}
	next := &conf.Certificates[0]
	if old := kp.cert.Load(); old != nil && bytes.Equal(old.Certificate[0], next.Certificate[0]) {
		return false, nil
	}
	kp.cert.Store(next)
	return true, nil
}

// revocations loads the list at path, signed by the CA in caFile, and
// keeps it for reloadTLS.
func (m *tlsMaterial) revocations(path, caFile string) (*pki.Revocations, error) {
	r, err := pki.LoadRevocations(path, caFile)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.lists = append(m.lists, r)
	m.mu.Unlock()
	return r, nil
}

// reloadTLS reads every revocation list again: connections made from now
// on, and every RPC a primary serves, are checked against the new lists.
// A list that cannot be read is logged and the one in use kept.
func (m *tlsMaterial) reloadTLS(log *slog.Logger) error {
	m.mu.Lock()
	lists := append([]*pki.Revocations(nil), m.lists...)
	m.mu.Unlock()
	var errs []error
	for _, r := range lists {
		if err := r.Reload(); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("reloaded the revocation list", "path", fmt.Sprintf("%q", r.Path()), "revoked", r.Len())
	}
	m.mu.Lock()
	pairs := append([]*keyPair(nil), m.pairs...)
	m.mu.Unlock()
	for _, kp := range pairs {
		changed, err := kp.reload()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if leaf := kp.cert.Load().Leaf; changed && leaf != nil {
			log.Info("reloaded the certificate: new connections present it", "cert", fmt.Sprintf("%q", kp.t.Cert),
				"serial", leaf.SerialNumber, "expires", leaf.NotAfter.Format(time.DateTime))
		}
	}
	return errors.Join(errs...)
}

// loadTLS loads the TLS files t for role and checks that the certificate is
// for this node and role. key names the config keys in messages. The
// revocation list, if t names one, is kept in m for reloads; a key file
// that group or others may read is logged as a warning.
func loadTLS(cfg *config.Config, t config.TLS, role pki.Role, key string, m *tlsMaterial, log *slog.Logger) (*tls.Config, pki.Identity, error) {
	tlsFor := pki.ServerTLS
	if role == pki.RoleSecondary {
		tlsFor = pki.ClientTLS
	}
	var opts []pki.Option
	if t.CRL != "" {
		r, err := m.revocations(t.CRL, t.CA)
		if err != nil {
			return nil, pki.Identity{}, fmt.Errorf("%s.crl: %w", key, err)
		}
		opts = append(opts, pki.WithRevocations(r))
	}
	if msg, err := pki.ExposedKey(t.Key); err == nil && msg != "" {
		log.Warn("private key readable by others", "key", key+".key", "problem", msg)
	}
	conf, id, err := tlsFor(t.CA, t.Cert, t.Key, opts...)
	if err != nil {
		return nil, pki.Identity{}, fmt.Errorf("%s: %w", key, err)
	}
	if id.Node != cfg.Node {
		return nil, pki.Identity{}, fmt.Errorf("%s.cert %s is for node %q but the config's node is %q: issue a certificate for %q", key, t.Cert, id.Node, cfg.Node, cfg.Node)
	}
	if id.Role != role {
		return nil, pki.Identity{}, fmt.Errorf("%s.cert %s has role %s, and a %s is needed here: issue a %s certificate for %q", key, t.Cert, id.Role, role, role, cfg.Node)
	}
	// The certificate is handed out at each handshake, so that a reload
	// can replace it (a renewal) without a restart.
	kp := &keyPair{t: t, key: key, role: role, id: id}
	kp.cert.Store(&conf.Certificates[0])
	conf.Certificates = nil
	if role == pki.RoleSecondary {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.cert.Load(), nil }
	} else {
		conf.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.cert.Load(), nil }
	}
	m.mu.Lock()
	m.pairs = append(m.pairs, kp)
	m.mu.Unlock()
	return conf, id, nil
}
