package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/pki"
)

// tlsMaterial is what the daemon's TLS configurations read at every
// handshake and SIGHUP reloads: the revocation lists of tls.crl (and
// promote.tls.crl).
type tlsMaterial struct {
	mu    sync.Mutex
	lists []*pki.Revocations
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
	return conf, id, nil
}
