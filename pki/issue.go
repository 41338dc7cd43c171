package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"time"
)

// Default validity periods.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	PeerValidity = 2 * 365 * 24 * time.Hour
)

// backdate tolerates clocks that are a little behind the issuer's.
const backdate = 5 * time.Minute

// organization is the subject O of every ncsync certificate.
const organization = "ncsync"

// File names of the CA inside a certificate directory.
const (
	caCertName = "ca.pem"
	caKeyName  = "ca.key"
)

// IssueOptions tunes a peer certificate. The zero value gives the defaults.
type IssueOptions struct {
	// DNS names to add to <node> and localhost.
	DNS []string
	// IPs to add to 127.0.0.1 and ::1.
	IPs []net.IP
	// Validity; PeerValidity when zero. Never extends past the CA's expiry.
	Validity time.Duration
}

// InitCA creates a new cluster CA in dir (created 0700 if missing):
// dir/ca.pem and dir/ca.key (0600). It refuses to overwrite either file. The
// cluster id is 128 random bits in hex.
func InitCA(dir string) (clusterID string, err error) {
	return initCA(dir, time.Now())
}

func initCA(dir string, now time.Time) (string, error) {
	certPath, keyPath := filepath.Join(dir, caCertName), filepath.Join(dir, caKeyName)
	if err := prepareDir(dir, certPath, keyPath); err != nil {
		return "", err
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate cluster id: %w", err)
	}
	clusterID := hex.EncodeToString(raw[:])
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{organization}, CommonName: "ncsync cluster " + clusterID},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{caURI(clusterID)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePair(dir, certPath, keyPath, der, key); err != nil {
		return "", err
	}
	return clusterID, nil
}

// Issue creates dir/NODE.pem and dir/NODE.key (0600) for node with role,
// signed by the CA in dir. It refuses to overwrite either file.
func Issue(dir, node string, role Role) error {
	return IssueWith(dir, node, role, IssueOptions{})
}

// IssueWith is Issue with extra subject alternative names or a validity.
func IssueWith(dir, node string, role Role, opts IssueOptions) error {
	return issue(dir, node, role, opts, time.Now())
}

func issue(dir, node string, role Role, opts IssueOptions, now time.Time) error {
	if err := ValidNodeName(node); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if opts.Validity < 0 {
		return fmt.Errorf("validity %v is negative", opts.Validity)
	}
	for _, name := range opts.DNS {
		if name == "" {
			return errors.New("empty DNS name")
		}
	}
	for _, ip := range opts.IPs {
		if ip.To16() == nil {
			return fmt.Errorf("invalid IP address %v", ip)
		}
	}
	ca, caKey, clusterID, err := loadCAPair(dir)
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, node+".pem"), filepath.Join(dir, node+".key")
	if err := prepareDir(dir, certPath, keyPath); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key for %q: %w", node, err)
	}
	der, err := signPeer(ca, caKey, Identity{ClusterID: clusterID, Node: node, Role: role}, &key.PublicKey, opts, now)
	if err != nil {
		return err
	}
	return writePair(dir, certPath, keyPath, der, key)
}

// signPeer creates a peer certificate for id, signed by ca.
func signPeer(ca *x509.Certificate, caKey any, id Identity, pub any, opts IssueOptions, now time.Time) ([]byte, error) {
	validity := opts.Validity
	if validity == 0 {
		validity = PeerValidity
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{organization}, CommonName: id.Node},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     append([]string{id.Node, "localhost"}, opts.DNS...),
		IPAddresses:  append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, opts.IPs...),
		URIs:         []*url.URL{peerURI(id)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate for %q: %w", id.Node, err)
	}
	return der, nil
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil // never zero
}
