package starter

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/lease/leasetest"
)

// A starter reaches a store that speaks mutual TLS with a private CA, given
// the worker's TLS flags, and says what is wrong when they are wrong.
func TestStoreOverMutualTLS(t *testing.T) {
	files, err := leasetest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	node := leasetest.StartTLS(t, 1, leasetest.TLSNode{Files: files, ClientCerts: true}).Nodes[0]
	parse := func(args ...string) *Flags {
		var f Flags
		fs := flag.NewFlagSet("starter", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return &f
	}
	f := parse("-store", "rediss://"+node.TLSAddr, "-redis-tls-ca", files.CA, "-redis-tls-cert", files.ClientCert, "-redis-tls-key", files.ClientKey)
	rdb, err := f.Store()
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING over mTLS: %v", err)
	}
	for args, want := range map[string]string{
		"-store redis://127.0.0.1:1 -redis-tls-ca " + files.CA:          "no URL is rediss://",
		"-store rediss://127.0.0.1:1 -redis-tls-key " + files.ClientKey: "both its certificate file and its key file",
		"-store http://127.0.0.1:1":                                     "scheme",
		"-store-name x":                                                 "-store is required",
	} {
		if _, err := parse(strings.Fields(args)...).Store(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}
