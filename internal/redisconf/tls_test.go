package redisconf_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/internal/redisconf"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

func pki(t *testing.T) leasetest.TLSFiles {
	t.Helper()
	files, err := leasetest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// ping dials url with tlsCfg applied and returns PING's error.
func ping(t *testing.T, url string, tlsCfg redisconf.TLS) error {
	t.Helper()
	o, err := redisconf.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlsCfg.Apply(o); err != nil {
		t.Fatal(err)
	}
	o.MaxRetries, o.DialTimeout = -1, time.Second
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// A node whose certificate a private CA signed: trusted with that CA,
// refused with the system's roots or another CA; its certificate's names
// are checked, and a server name override checks another one.
func TestPrivateCAAndServerName(t *testing.T) {
	files := pki(t)
	node := leasetest.StartTLS(t, 1, leasetest.TLSNode{Files: files}).Nodes[0]
	url := "rediss://" + node.TLSAddr
	if err := ping(t, url, redisconf.TLS{CAFile: files.CA}); err != nil {
		t.Fatalf("with the private CA: %v", err)
	}
	if err := ping(t, url, redisconf.TLS{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("with the system's roots: %v, want a certificate error", err)
	}
	if err := ping(t, url, redisconf.TLS{CAFile: files.OtherCA}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("with another CA: %v, want a certificate error", err)
	}
	if err := ping(t, url, redisconf.TLS{CAFile: files.CA, ServerName: "wrong.example"}); err == nil || !strings.Contains(err.Error(), "wrong.example") {
		t.Fatalf("with a server name the certificate does not have: %v", err)
	}
	if err := ping(t, url, redisconf.TLS{CAFile: files.CA, ServerName: leasetest.ServerName}); err != nil {
		t.Fatalf("with the certificate's DNS name as server name: %v", err)
	}
}

// A node that requires client certificates (mutual TLS) refuses a client
// without one and takes one the CA signed; a lease client works over it.
func TestMutualTLSAndALeaseOverIt(t *testing.T) {
	files := pki(t)
	cluster := leasetest.StartTLS(t, 3, leasetest.TLSNode{Files: files, ClientCerts: true})
	var urls []string
	for _, n := range cluster.Nodes {
		urls = append(urls, "rediss://"+n.TLSAddr)
	}
	if err := ping(t, urls[0], redisconf.TLS{CAFile: files.CA}); err == nil {
		t.Fatal("a client without a certificate was let in")
	}
	mtls := redisconf.TLS{CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey}
	if err := ping(t, urls[0], mtls); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	opts, err := redisconf.ParseURLs(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	if err := mtls.Apply(opts...); err != nil {
		t.Fatal(err)
	}
	nodes := make([]lease.Node, len(opts))
	for i, o := range opts {
		c := redis.NewClient(o)
		defer c.Close()
		nodes[i] = c
	}
	// The first request of each connection carries the TLS handshake: a
	// node timeout that leaves room for it on a loaded machine.
	lc, err := lease.New(nodes, lease.WithNodeTimeout(2*time.Second), lease.WithTTL(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	ctx := context.Background()
	l, err := lc.Acquire(ctx, "over-tls", lease.WithWait(20*time.Second))
	if err != nil {
		t.Fatalf("acquire over mutual TLS: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Bad TLS settings are refused with an error that names the problem, and
// leave the options as they were.
func TestBadTLSSettings(t *testing.T) {
	files := pki(t)
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		tls  redisconf.TLS
		urls string
		want string
	}{
		"cert without key": {redisconf.TLS{CertFile: files.ClientCert}, "rediss://127.0.0.1:1", "both its certificate file and its key file"},
		"key without cert": {redisconf.TLS{KeyFile: files.ClientKey}, "rediss://127.0.0.1:1", "both its certificate file and its key file"},
		"missing CA":       {redisconf.TLS{CAFile: "/nonexistent/ca.pem"}, "rediss://127.0.0.1:1", "no such file"},
		"CA not PEM":       {redisconf.TLS{CAFile: empty}, "rediss://127.0.0.1:1", "no PEM certificate"},
		"key mismatch":     {redisconf.TLS{CertFile: files.ClientCert, KeyFile: files.ServerKey}, "rediss://127.0.0.1:1", "private key does not match"},
		"no TLS node":      {redisconf.TLS{CAFile: files.CA}, "redis://127.0.0.1:1,redis://127.0.0.1:2", "no URL is rediss://"},
	} {
		t.Run(name, func(t *testing.T) {
			opts, err := redisconf.ParseURLs(c.urls)
			if err != nil {
				t.Fatal(err)
			}
			before := opts[0].TLSConfig
			err = c.tls.Apply(opts...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error with %q", err, c.want)
			}
			if opts[0].TLSConfig != before {
				t.Fatal("a refused setting changed the options")
			}
		})
	}
	if err := (redisconf.TLS{CAFile: files.CA}).Apply(); !errors.Is(err, redisconf.ErrNoTLSNode) {
		t.Fatalf("no options: %v", err)
	}
}

// A URL error never shows a password, however it is mangled, and
// skip_verify is refused.
func TestURLErrorsNeverShowThePassword(t *testing.T) {
	for _, list := range []string{
		"redis://user:pa,ss@127.0.0.1:1",    // a ',' splits the list
		"redis://user:pa/ss@127.0.0.1:1",    // a '/' ends the authority
		"redis://user:1234/abc@127.0.0.1:1", // ... and parses without user information
		"redis://user:pa?ss@127.0.0.1:1",    // a '?'
		"redis://user:pa#ss@127.0.0.1:1",    // a '#'
		"redis://user:pass@127.0.0.1:port",  // a bad port
		"redis://user:pass@127.0.0.1:1/dbx", // a bad database
		"rediss://user:pass@127.0.0.1:1?skip_verify=true",
	} {
		_, err := redisconf.ParseURLs(list)
		if err == nil {
			t.Errorf("%s: accepted", list)
			continue
		}
		for _, secret := range []string{"pa,ss", "ss@", "pa/ss", "1234", "abc", "pa?ss", "pa#ss", ":pass", ":pa"} {
			if strings.Contains(list, secret) && strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows %q: %v", list, secret, err)
			}
		}
	}
	if _, err := redisconf.ParseURL("rediss://127.0.0.1:1?skip_verify=true"); err == nil || !strings.Contains(err.Error(), "skip_verify") {
		t.Errorf("skip_verify: %v", err)
	}
}
