package main

import (
	"context"
	"strings"
	"testing"

	"github.com/redlease/redlease/lease/leasetest"
)

// startEnv starts the servers s needs for a test, stopped in t.Cleanup.
func startEnv(t *testing.T, s scenario) env {
	t.Helper()
	cluster := leasetest.Start(t, s.nodes)
	e := env{nodes: cluster.Nodes}
	if s.replica {
		e.replica = leasetest.Replicate(t, cluster.Nodes[0])
	}
	return e
}

// find returns the scenario with the given approach and failure.
func find(t *testing.T, approach, failure string) scenario {
	t.Helper()
	for _, s := range scenarios() {
		if s.approach == approach && s.failure == failure {
			return s
		}
	}
	t.Fatalf("no scenario %q / %q", approach, failure)
	return scenario{}
}

func runIn(t *testing.T, s scenario) outcome {
	t.Helper()
	o, err := s.run(context.Background(), startEnv(t, s))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s — %s: available %s, owners %s\n  - %s", s.approach, s.failure, yesNo(o.available), o.ownersText(), strings.Join(o.steps, "\n  - "))
	return o
}

// After the primary dies with the lock unreplicated and the replica is
// promoted, client 2 gets the lock while client 1 still holds it.
func TestReplicaFailoverYieldsTwoOwners(t *testing.T) {
	o := runIn(t, find(t, "primary + replica", "primary killed before replicating the lock; failover"))
	if o.owners != 2 {
		t.Fatalf("owners at once: %d, want 2", o.owners)
	}
	if !o.available {
		t.Fatal("the promoted replica did not serve locks")
	}
}

// With one of 5 nodes killed and restarted empty, client 1 keeps a quorum
// of 4 and client 2 is refused; the restarted node, not initialised, is
// guarded, and fresh keys still lock on the other 4.
func TestRedlockOneNodeRestartedEmptyYieldsOneOwner(t *testing.T) {
	o := runIn(t, find(t, "redlock, 5 nodes", "1 node killed, restarted empty"))
	if o.owners != 1 {
		t.Fatalf("owners at once: %d, want 1", o.owners)
	}
	if !o.available {
		t.Fatal("Redlock with 4 of 5 nodes up was not available")
	}
	if !hasStep(o, "node 0 guarded, grants again in 1m") {
		t.Fatal("the restarted node is not guarded")
	}
}

// The reproduction without the restart guard: client 1 holds a
// bare quorum {0,1,2}, node 0 restarts empty and is declared new with
// lease.InitNode, and client 2 gets {0,3,4} while client 1's lease lives.
func TestRedlockBareQuorumWithoutGuardYieldsTwoOwners(t *testing.T) {
	o := runIn(t, find(t, "redlock, 5 nodes", bareQuorum+", without the guard"))
	if o.owners != 2 {
		t.Fatalf("owners at once: %d, want 2", o.owners)
	}
	if !hasStep(o, "client 2: acquired, on nodes 0, 3, 4") {
		t.Fatal("client 2 did not get the lock on nodes 0, 3, 4")
	}
}

// The same failure with the restart guard (node 0 not initialised): node
// 0 answers guarded, client 2 is refused, and fresh keys still lock on
// nodes 1 to 4.
func TestRedlockBareQuorumWithGuardYieldsOneOwner(t *testing.T) {
	o := runIn(t, find(t, "redlock, 5 nodes", bareQuorum+", with the restart guard (default)"))
	if o.owners != 1 {
		t.Fatalf("owners at once: %d, want 1", o.owners)
	}
	if !o.guarded || !hasStep(o, `(node 0, grants again in 1m`) {
		t.Fatal("node 0 did not answer that it is guarded for about a minute")
	}
	if !o.available {
		t.Fatal("a fresh key could not be locked on the 4 nodes that are not guarded")
	}
}

// With three of five nodes restarted empty, the restart guard keeps them
// from granting: client 1 stays the only owner, and no lock (not even on a
// fresh key) can be taken with 2 nodes left while the guard lasts.
func TestRedlockMajorityRestartedEmptyIsGuarded(t *testing.T) {
	o := runIn(t, find(t, "redlock, 5 nodes", "3 nodes restarted empty (a majority lost its data)"))
	if o.owners != 1 {
		t.Fatalf("owners at once: %d, want 1", o.owners)
	}
	if o.available {
		t.Fatal("a lock was taken while 3 of 5 nodes were guarded")
	}
	if !o.guarded {
		t.Fatal("no restarted node answered that it is guarded")
	}
}

// hasStep reports whether one of o's evidence lines contains s.
func hasStep(o outcome, s string) bool {
	for _, step := range o.steps {
		if strings.Contains(step, s) {
			return true
		}
	}
	return false
}

// Every row of part B shows what the program claims it shows.
func TestEveryScenarioShowsItsClaim(t *testing.T) {
	ss := scenarios()
	outs := make([]outcome, len(ss))
	for i, s := range ss {
		outs[i] = runIn(t, s)
	}
	if err := verify(ss, outs); err != nil {
		t.Fatal(err)
	}
}

// verify fails a run whose outcomes do not show the claims.
func TestVerifyRejectsAMissingDemonstration(t *testing.T) {
	ss := scenarios()
	outs := make([]outcome, len(ss))
	for i := range outs {
		outs[i] = outcome{available: true, owners: 1, ownersAfterTTL: -1}
	}
	if err := verify(ss, outs); err == nil {
		t.Fatal("verify accepted one owner everywhere, including after the replica failover")
	}
}
