package redisconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/redis/go-redis/v9"
)

// TLS is how rediss:// nodes are verified and how this client proves
// itself to them. The zero value keeps go-redis's default: the system's
// root CAs, the URL's host as the server name, no client certificate.
type TLS struct {
	// CAFile is a PEM bundle of the CAs that signed the nodes'
	// certificates (a private CA); it replaces the system's roots.
	CAFile string
	// CertFile and KeyFile are this client's certificate and key (PEM),
	// for nodes that require client certificates (mutual TLS). Both or
	// neither.
	CertFile, KeyFile string
	// ServerName is the name checked in every node's certificate instead
	// of the URL's host (nodes dialled by IP address whose certificates
	// name a DNS name).
	ServerName string
}

// ErrNoTLSNode: TLS settings were given but no URL is rediss://.
var ErrNoTLSNode = errors.New("TLS settings given, but no URL is rediss:// (use rediss:// for nodes that speak TLS)")

// IsZero reports whether no TLS setting is given.
func (t TLS) IsZero() bool { return t == TLS{} }

// Apply sets t on every rediss:// entry of opts (a redis:// entry stays
// plain). It reads the files once, and fails — changing nothing — when one
// is missing or holds no certificate, when only one of CertFile and
// KeyFile is given, or when t is set and no entry is rediss://.
func (t TLS) Apply(opts ...*redis.Options) error {
	if t.IsZero() {
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("a client certificate needs both its certificate file and its key file")
	}
	var pool *x509.CertPool
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return fmt.Errorf("CA file: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("CA file %s: no PEM certificate in it", t.CAFile)
		}
	}
	var certs []tls.Certificate
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
		certs = []tls.Certificate{cert}
	}
	tlsNodes := false
	for _, o := range opts {
		tlsNodes = tlsNodes || (o != nil && o.TLSConfig != nil)
	}
	if !tlsNodes {
		return ErrNoTLSNode
	}
	for _, o := range opts {
		if o == nil || o.TLSConfig == nil {
			continue
		}
		c := o.TLSConfig.Clone()
		c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
		if pool != nil {
			c.RootCAs = pool
		}
		if certs != nil {
			c.Certificates = certs
		}
		if t.ServerName != "" {
			c.ServerName = t.ServerName
		}
		o.TLSConfig = c
	}
	return nil
}
