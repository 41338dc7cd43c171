package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// CRLName is the revocation list's file name in a certificate directory.
const CRLName = "crl.pem"

// Revoked says which certificate Revoke added to the list.
type Revoked struct {
	Serial *big.Int
	Node   string // from the certificate file, when revoked by node
	Path   string // the revocation list written
	// Already: the serial was on the list before; the list is unchanged.
	Already bool
}

// RevokeNode revokes the certificate dir/NODE.pem (see Revoke).
func RevokeNode(dir, node string) (Revoked, error) {
	if err := ValidNodeName(node); err != nil {
		return Revoked{}, err
	}
	path := filepath.Join(dir, node+".pem")
	data, err := os.ReadFile(path)
	if err != nil {
		return Revoked{}, fmt.Errorf("read the certificate of node %q: %w (to revoke a certificate issued elsewhere, give its serial)", node, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return Revoked{}, fmt.Errorf("%q holds no PEM CERTIFICATE", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Revoked{}, fmt.Errorf("parse %q: %w", path, err)
	}
	r, err := Revoke(dir, cert.SerialNumber)
	r.Node = node
	return r, err
}

// Revoke adds serial to dir/crl.pem, the revocation list of the CA in dir,
// signed by it: it keeps every serial already listed and raises the list's
// number. The file is replaced atomically. Nodes whose tls.crl names a copy
// of it refuse the certificate at every handshake (after a SIGHUP or a
// restart, once the copy is in place).
func Revoke(dir string, serial *big.Int) (Revoked, error) {
	return revoke(dir, serial, time.Now())
}

func revoke(dir string, serial *big.Int, now time.Time) (Revoked, error) {
	if serial == nil || serial.Sign() <= 0 {
		return Revoked{}, errors.New("serial must be a positive number")
	}
	ca, caKey, _, err := loadCAPair(dir)
	if err != nil {
		return Revoked{}, err
	}
	signer, ok := caKey.(crypto.Signer)
	if !ok {
		return Revoked{}, fmt.Errorf("the CA key in %q cannot sign", dir)
	}
	path := filepath.Join(dir, CRLName)
	r := Revoked{Serial: serial, Path: path}
	var entries []x509.RevocationListEntry
	number := big.NewInt(1)
	old, err := readCRL(path, ca)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Revoked{}, err
	default:
		entries = old.RevokedCertificateEntries
		number.Add(old.Number, big.NewInt(1))
	}
	for _, e := range entries {
		if e.SerialNumber.Cmp(serial) == 0 {
			r.Already = true
			return r, nil
		}
	}
	entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: now.UTC()})
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.Add(-backdate),
		NextUpdate:                ca.NotAfter,
		RevokedCertificateEntries: entries,
	}, ca, signer)
	if err != nil {
		return Revoked{}, fmt.Errorf("sign the revocation list: %w", err)
	}
	if err := replaceFile(dir, path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		return Revoked{}, err
	}
	return r, nil
}

// readCRL reads and checks a revocation list signed by ca.
func readCRL(path string, ca *x509.Certificate) (*x509.RevocationList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read revocation list %q: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		return nil, fmt.Errorf("revocation list %q: no PEM X509 CRL block", path)
	}
	l, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse revocation list %q: %w", path, err)
	}
	if err := l.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("revocation list %q is not signed by the cluster CA: %w", path, err)
	}
	return l, nil
}

// Revocations is a revocation list file of the cluster CA as a node uses
// it: the serials it lists are refused at every handshake (see
// WithRevocations). Reload reads the file again; the TLS configurations
// using it see the new list from their next handshake on. Safe for
// concurrent use.
type Revocations struct {
	path string
	ca   *x509.Certificate
	set  atomic.Pointer[revokedSet]
}

type revokedSet struct {
	serials map[string]bool // big.Int.String()
	number  *big.Int
}

// LoadRevocations reads the revocation list at path, which must be signed
// by the CA in caFile.
func LoadRevocations(path, caFile string) (*Revocations, error) {
	ca, _, err := loadCACert(caFile)
	if err != nil {
		return nil, err
	}
	r := &Revocations{path: path, ca: ca}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Path is the file the list is read from.
func (r *Revocations) Path() string { return r.path }

// Reload reads the file again. On an error the list in use is kept.
func (r *Revocations) Reload() error {
	l, err := readCRL(r.path, r.ca)
	if err != nil {
		return err
	}
	if cur := r.set.Load(); cur != nil && l.Number != nil && cur.number != nil && l.Number.Cmp(cur.number) < 0 {
		return fmt.Errorf("revocation list %q is number %s, older than the one in use (%s): keeping that", r.path, l.Number, cur.number)
	}
	s := &revokedSet{serials: make(map[string]bool, len(l.RevokedCertificateEntries)), number: l.Number}
	for _, e := range l.RevokedCertificateEntries {
		s.serials[e.SerialNumber.String()] = true
	}
	r.set.Store(s)
	return nil
}

// Len is how many serials the list in use holds.
func (r *Revocations) Len() int { return len(r.set.Load().serials) }

// revoked reports whether cert's serial is listed.
func (r *Revocations) revoked(cert *x509.Certificate) bool {
	return r.set.Load().serials[cert.SerialNumber.String()]
}
