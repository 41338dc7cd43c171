package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ncsync/ncsync/internal/durable"
)

// prepareDir creates dir if needed and checks that none of paths exists, so
// that nothing is written when any would be overwritten.
func prepareDir(dir string, paths ...string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %q: %w", dir, err)
	}
	for _, p := range paths {
		_, err := os.Lstat(p)
		if err == nil {
			return fmt.Errorf("%q already exists: refusing to overwrite it (remove it first to replace it): %w", p, fs.ErrExist)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %q: %w", p, err)
		}
	}
	return nil
}

// writePair writes the key (0600) and then the certificate (0644). Each file
// appears complete or not at all, and never replaces an existing file; if
// the certificate cannot be written the key is removed again.
func writePair(dir, certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if err := writeNew(dir, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeNew(dir, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return durable.SyncDir(dir)
}

// writeNew writes data to a temporary file and hard-links it to path, which
// fails if path exists: no overwrite, and no partial file at path.
func writeNew(dir, path string, data []byte, mode os.FileMode) error {
	return withTemp(dir, data, mode, func(tmp string) error {
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%q already exists: refusing to overwrite it: %w", path, fs.ErrExist)
			}
			return fmt.Errorf("create %q: %w", path, err)
		}
		return nil
	})
}

// replaceFile writes data to path through a temporary file and a rename,
// so that readers see the old file or the new one, never a part.
func replaceFile(dir, path string, data []byte, mode os.FileMode) error {
	err := withTemp(dir, data, mode, func(tmp string) error {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %q: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

// withTemp writes data with mode to a new temporary file in dir, synced,
// and calls place with its name; the temporary name is removed after.
func withTemp(dir string, data []byte, mode os.FileMode, place func(tmp string) error) error {
	f, err := os.CreateTemp(dir, ".ncsync-pki-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %q: %w", dir, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q: %w", tmp, err)
	}
	return place(tmp)
}

// loadCACert reads the first certificate in caFile and checks that it is an
// ncsync cluster CA.
func loadCACert(caFile string) (*x509.Certificate, string, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, "", fmt.Errorf("read CA certificate %q: %w", caFile, err)
	}
	var block *pem.Block
	for {
		block, data = pem.Decode(data)
		if block == nil {
			return nil, "", fmt.Errorf("read CA certificate %q: no PEM CERTIFICATE block", caFile)
		}
		if block.Type == "CERTIFICATE" {
			break
		}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("parse CA certificate %q: %w", caFile, err)
	}
	id, err := caClusterID(cert)
	if err != nil {
		return nil, "", fmt.Errorf("CA certificate %q: %w", caFile, err)
	}
	return cert, id, nil
}

// loadCAPair reads dir/ca.pem and dir/ca.key for signing.
func loadCAPair(dir string) (*x509.Certificate, any, string, error) {
	certPath, keyPath := filepath.Join(dir, caCertName), filepath.Join(dir, caKeyName)
	if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, "", fmt.Errorf("no cluster CA in %q (%q is missing): run `ncsync certs init --dir %s` first", dir, certPath, dir)
	}
	cert, clusterID, err := loadCACert(certPath)
	if err != nil {
		return nil, nil, "", err
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, nil, "", fmt.Errorf("load CA key %q: %w", keyPath, err)
	}
	return cert, pair.PrivateKey, clusterID, nil
}

// ExposedKey describes a key file that group or others may read or write
// ("" if none may): a private key must be mode 0600 or 0400.
func ExposedKey(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("check key %q: %w", path, err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Sprintf("key file %q has mode %04o: group or others may read it; chmod 600 it", path, m), nil
	}
	return "", nil
}
