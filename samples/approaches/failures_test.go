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
// of 4 and client 2 is refused.
func TestRedlockOneNodeRestartedEmptyYieldsOneOwner(t *testing.T) {
	o := runIn(t, find(t, "redlock, 5 nodes", "1 node killed, restarted empty"))
	if o.owners != 1 {
		t.Fatalf("owners at once: %d, want 1", o.owners)
	}
	if !o.available {
		t.Fatal("Redlock with 4 of 5 nodes up was not available")
	}
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
