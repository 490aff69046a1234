package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// cli runs the command in-process and returns its exit status and output.
func cli(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func urls(cluster *leasetest.Cluster) string {
	var u []string
	for _, n := range cluster.Nodes {
		u = append(u, "redis://"+n.Addr)
	}
	return strings.Join(u, ",")
}

func newLeaseClient(t *testing.T, cluster *leasetest.Cluster) *lease.Client {
	t.Helper()
	c, err := lease.New(cluster.LeaseNodes(), lease.WithTTL(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// settle waits until every node holds owner's lock on resource.
func settle(t *testing.T, cluster *leasetest.Cluster, resource, owner string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		all := true
		for _, n := range cluster.Nodes {
			all = all && n.Client.Get(context.Background(), "redlease:{"+resource+"}:lock").Val() == owner
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock did not reach every node")
		}
	}
}

// status shows a Temporal holder decoded, with its web UI link, the verdict
// and every node; JSON for scripts; never the owner value.
func TestStatusOfAWorkflowsLease(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	lc := newLeaseClient(t, cluster)
	ctx := context.Background()
	holder := "default/job%2F7/01abc/default" // workflow id "job/7", escaped
	l, err := lc.Acquire(ctx, "printer-7", lease.WithHolder(holder), lease.WithEpoch(lease.NewEpoch(42, 0)))
	if err != nil {
		t.Fatal(err)
	}
	settle(t, cluster, "printer-7", l.Owner())
	env := map[string]string{"REDLEASE_REDIS_URLS": urls(cluster), "TEMPORAL_UI": "http://ui.example:8233/"}

	code, out, errOut := cli(t, env, "", "status", "printer-7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"held by " + holder, "on 3 of 3 nodes", "workflow job/7, run 01abc", "http://ui.example:8233/namespaces/default/workflows/job%2F7/01abc/history", "NODE", "held", "ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = cli(t, env, "", "status", "printer-7", "-o", "json")
	var st statusJSON
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("json: exit %d: %s", code, out)
	}
	if st.Verdict != "held" || st.Holder != holder || st.Workflow == nil || st.Workflow.WorkflowID != "job/7" || st.Token != l.Token() || len(st.Nodes) != 3 || st.Nodes[0].Guard != "ready" {
		t.Fatalf("json status: %+v", st)
	}
	nonce := l.Owner()[strings.LastIndex(l.Owner(), "#")+1:]
	for _, o := range []string{"table", "json"} {
		if _, out, _ := cli(t, env, "", "status", "printer-7", "-o", o); strings.Contains(out, nonce) {
			t.Fatalf("the owner value shows in -o %s:\n%s", o, out)
		}
	}
}

// status shows a node down, a node in its restart guard and a release
// tombstone; list finds held resources by prefix.
func TestStatusOfNodesAndList(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	lc := newLeaseClient(t, cluster)
	ctx := context.Background()
	env := map[string]string{"REDLEASE_REDIS_URLS": urls(cluster), "NO_COLOR": "1"}
	for _, r := range []string{"gpu-1", "gpu-2", "disk-1"} {
		if _, err := lc.Acquire(ctx, r, lease.WithHolder("team/"+r)); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := cli(t, env, "", "list", "-prefix", "gpu-")
	if code != 0 || !strings.Contains(out, "gpu-1") || !strings.Contains(out, "gpu-2") || strings.Contains(out, "disk-1") || !strings.Contains(out, "team/gpu-1") {
		t.Fatalf("list -prefix gpu-: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := cli(t, env, "", "list", "-max", "1"); code != 0 || !strings.Contains(out, "more than 1") {
		t.Fatalf("list -max 1: exit %d\n%s", code, out)
	}

	if err := lc.ReleaseHolder(ctx, "gpu-1", "team/gpu-1", lease.NewEpoch(1, 0), 0); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[1].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	_, _ = lc.Acquire(ctx, "other") // starts node 1's guard window
	code, out, errOut = cli(t, env, "", "status", "gpu-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"down", "guarded", "tombstone", "team/gpu-1", "free (no owner on a quorum)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if err := cluster.Nodes[2].Kill(); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, env, "", "status", "gpu-1"); code != 1 || !strings.Contains(errOut, "the verdict is unknown") || !strings.Contains(out, "unknown: 1 of 3 nodes answered") {
		t.Fatalf("status with one node of three: exit %d\n%s%s", code, out, errOut)
	}
}

// release -holder frees the resource (the holder's next extension fails),
// -force frees an anonymous owner after confirmation, and says what it did.
func TestRelease(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	lc := newLeaseClient(t, cluster)
	ctx := context.Background()
	env := map[string]string{"REDLEASE_REDIS_URLS": urls(cluster)}

	l, err := lc.Acquire(ctx, "press", lease.WithHolder("ops/batch-9"), lease.WithEpoch(lease.NewEpoch(5, 0)))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, env, "", "release", "press", "-holder", "ops/batch-9")
	if code != 0 || !strings.Contains(out, "released press: holder ops/batch-9") {
		t.Fatalf("release -holder: exit %d\n%s%s", code, out, errOut)
	}
	if err := l.Extend(ctx); err == nil {
		t.Fatal("the released holder still extends")
	}
	next, err := lc.Acquire(ctx, "press")
	if err != nil {
		t.Fatalf("the resource is not free after the release: %v", err)
	}
	settle(t, cluster, "press", next.Owner())

	// -force on an anonymous owner: refused without "yes", done with it.
	code, _, errOut = cli(t, env, "no\n", "release", "press", "-force")
	if code != 1 || !strings.Contains(errOut, "not confirmed") || !next.Valid() || next.Extend(ctx) != nil {
		t.Fatalf("unconfirmed -force: exit %d %s", code, errOut)
	}
	code, out, errOut = cli(t, env, "yes\n", "release", "press", "-force", "-o", "json")
	var rec struct {
		Action, OwnerID, By string
		Nodes               int
	}
	if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec.Action != "force-release" || rec.Nodes != 3 || rec.By == "" {
		t.Fatalf("confirmed -force: exit %d\n%s%s", code, out, errOut)
	}
	if err := next.Extend(ctx); err == nil {
		t.Fatal("the force-released owner still extends")
	}
	if code, _, errOut := cli(t, env, "", "release", "press", "-force", "-yes"); code != 1 || !strings.Contains(errOut, "no owner holds a quorum") {
		t.Fatalf("-force on a free resource: exit %d %s", code, errOut)
	}
	// -holder without -epoch ends exactly what the holder holds: a holder
	// that holds nothing is an error, and a later scope of it is untouched.
	if code, _, errOut := cli(t, env, "", "release", "press", "-holder", "ops/nobody"); code != 1 || !strings.Contains(errOut, "holds it on no node") {
		t.Fatalf("release of a holder that holds nothing: exit %d %s", code, errOut)
	}
}

// Bad usage exits 2 with the problem named; -h exits 0.
func TestUsageErrors(t *testing.T) {
	env := map[string]string{"REDLEASE_REDIS_URLS": "redis://127.0.0.1:1,redis://127.0.0.1:2,redis://127.0.0.1:3"}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"status", "x"}, "-redis (or REDLEASE_REDIS_URLS) is required"},
		{env, []string{"frobnicate"}, "unknown command"},
		{env, []string{"status"}, "status takes one RESOURCE"},
		{env, []string{"status", "x", "-o", "yaml"}, `"yaml" (want table or json)`},
		{env, []string{"status", "x", "-node-timeout", "fast"}, "-node-timeout"},
		{env, []string{"release", "x"}, "exactly one of -holder and -force"},
		{env, []string{"release", "x", "-holder", "h", "-force"}, "exactly one of -holder and -force"},
		{env, []string{"release", "x", "-holder", "h", "-yes"}, "-owner and -yes go with -force"},
		{env, []string{"list", "-max", "0"}, "-max must be positive"},
		{env, []string{"status", "x", "-redis-tls-server-name", "n.example"}, "no URL is rediss://"},
		{env, []string{"status", "x", "-redis-tls-cert", "c.pem"}, "both its certificate file and its key file"},
		{map[string]string{"REDLEASE_REDIS_URLS": "http://a:1"}, []string{"status", "x"}, "REDLEASE_REDIS_URLS"},
	} {
		code, _, errOut := cli(t, c.env, "", c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	if code, out, _ := cli(t, nil, "", "-h"); code != 0 || !strings.Contains(out, "Commands:") {
		t.Fatalf("-h: %d %s", code, out)
	}
	if code, out, errOut := cli(t, nil, ""); code != 2 || out != "" || !strings.Contains(errOut, "Commands:") {
		t.Fatalf("no command: %d, stdout %q", code, out)
	}
	if code, _, errOut := cli(t, env, "", "release", "-h"); code != 0 || !strings.Contains(errOut, "loses the resource") && !strings.Contains(errOut, "loses it") {
		t.Fatalf("release -h: %d %s", code, errOut)
	}
}

// Over mutual TLS with a private CA, configured from the environment.
func TestStatusOverMutualTLS(t *testing.T) {
	files, err := leasetest.GenerateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cluster := leasetest.StartTLS(t, 3, leasetest.TLSNode{Files: files, ClientCerts: true})
	var u []string
	for _, n := range cluster.Nodes {
		u = append(u, "rediss://"+n.TLSAddr)
	}
	lc := newLeaseClient(t, cluster) // over the plain ports
	if _, err := lc.Acquire(context.Background(), "secure", lease.WithHolder("tls/holder")); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"REDLEASE_REDIS_URLS": strings.Join(u, ","), "REDLEASE_REDIS_TLS_CA": files.CA,
		"REDLEASE_REDIS_TLS_CERT": files.ClientCert, "REDLEASE_REDIS_TLS_KEY": files.ClientKey,
		"REDLEASE_NODE_TIMEOUT": "2s",
	}
	code, out, errOut := cli(t, env, "", "status", "secure")
	if code != 0 || !strings.Contains(out, "held by tls/holder") {
		t.Fatalf("status over mTLS: exit %d\n%s%s", code, out, errOut)
	}
	delete(env, "REDLEASE_REDIS_TLS_CERT")
	delete(env, "REDLEASE_REDIS_TLS_KEY")
	if code, out, _ := cli(t, env, "", "status", "secure"); code == 0 && strings.Contains(out, "held by") {
		t.Fatalf("status without a client certificate succeeded:\n%s", out)
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
