package leasetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ServerName is the DNS name in the server certificates GenerateTLS makes
// (besides 127.0.0.1 and localhost): a client that dials 127.0.0.1 and
// checks this name needs a server name override.
const ServerName = "node.redlease.test"

// TLSFiles are the PEM files of a private test PKI: a CA, a server
// certificate it signed (for 127.0.0.1, localhost and ServerName), a
// client certificate it signed, and a second CA that signed nothing (to
// show what an untrusted server looks like).
type TLSFiles struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	OtherCA                                          string
}

// GenerateTLS writes a fresh test PKI into dir (ECDSA P-256 keys, valid
// for a day).
func GenerateTLS(dir string) (TLSFiles, error) {
	f := TLSFiles{
		CA: filepath.Join(dir, "ca.pem"), ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"), OtherCA: filepath.Join(dir, "other-ca.pem"),
	}
	ca, caKey, err := newCert(dir, "redlease test CA", nil, nil, f.CA, "", func(t *x509.Certificate) {
		t.IsCA, t.BasicConstraintsValid = true, true
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	})
	if err != nil {
		return f, err
	}
	if _, _, err := newCert(dir, "redlease test server", ca, caKey, f.ServerCert, f.ServerKey, func(t *x509.Certificate) {
		t.DNSNames = []string{"localhost", ServerName}
		t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}); err != nil {
		return f, err
	}
	if _, _, err := newCert(dir, "redlease test client", ca, caKey, f.ClientCert, f.ClientKey, func(t *x509.Certificate) {
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}); err != nil {
		return f, err
	}
	_, _, err = newCert(dir, "another CA", nil, nil, f.OtherCA, "", func(t *x509.Certificate) {
		t.IsCA, t.BasicConstraintsValid = true, true
		t.KeyUsage = x509.KeyUsageCertSign
	})
	return f, err
}

// newCert makes a certificate for name, signed by parent (self-signed
// when nil), and writes it (and its key, when keyPath is set) as PEM.
func newCert(dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, certPath, keyPath string, shape func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	shape(tmpl)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, nil, fmt.Errorf("leasetest: certificate %q: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return nil, nil, err
	}
	if keyPath != "" {
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		if err := writePEM(keyPath, "EC PRIVATE KEY", kder); err != nil {
			return nil, nil, err
		}
	}
	return cert, key, nil
}

func writePEM(path, typ string, der []byte) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("leasetest: %w", err)
	}
	return nil
}
