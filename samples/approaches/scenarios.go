package main

import (
	"context"
	"errors"

	"github.com/redlease/redlease/lease/leasetest"
)

// scenario is one failure injected into one approach, and what the run
// claims it shows: the run fails when the outcome does not show it.
type scenario struct {
	approach string
	failure  string
	nodes    int  // independent redis-server nodes it needs
	replica  bool // and a replica of nodes[0]
	run      func(context.Context, env) (outcome, error)
	claim    string // what it must show, in words
	shows    func(outcome) bool
}

// env is the servers a scenario runs on, fresh for each scenario.
type env struct {
	nodes   []*leasetest.Node
	replica *leasetest.Replica // nil unless the scenario asked for one
}

// bareQuorum is the failure of the reproduction: a lease held on
// exactly 3 of 5 nodes, one of which restarts empty.
const bareQuorum = "1 node restarted empty while the lease holds a bare quorum"

// scenarios are part B's rows, in the order printed.
func scenarios() []scenario {
	return []scenario{
		{
			approach: "single node", failure: "node killed, stays down", nodes: 1,
			run:   singleNodeKilled,
			claim: "unavailable, 1 owner then 0",
			shows: func(o outcome) bool { return !o.available && o.owners == 1 && o.ownersAfterTTL == 0 },
		},
		{
			approach: "single node", failure: "node restarted empty (no persistence)", nodes: 1,
			run:   singleNodeRestarted,
			claim: "two owners",
			shows: func(o outcome) bool { return o.owners == 2 },
		},
		{
			approach: "primary + replica", failure: "primary killed before replicating the lock; failover", nodes: 1, replica: true,
			run:   replicaFailover,
			claim: "two owners",
			shows: func(o outcome) bool { return o.owners == 2 && o.available },
		},
		{
			approach: "redlock, 5 nodes", failure: "1 node killed, restarted empty", nodes: 5,
			run:   redlockFailure(1, true),
			claim: "one owner, available",
			shows: func(o outcome) bool { return o.owners == 1 && o.available },
		},
		{
			approach: "redlock, 5 nodes", failure: bareQuorum + ", without the guard", nodes: 5,
			run:   redlockBareQuorum(false),
			claim: "two owners",
			shows: func(o outcome) bool { return o.owners == 2 },
		},
		{
			approach: "redlock, 5 nodes", failure: bareQuorum + ", with the restart guard (default)", nodes: 5,
			run:   redlockBareQuorum(true),
			claim: "one owner, available (the restarted node answered guarded)",
			shows: func(o outcome) bool { return o.owners == 1 && o.available && o.guarded },
		},
		{
			approach: "redlock, 5 nodes", failure: "2 nodes killed, stay down", nodes: 5,
			run:   redlockFailure(2, false),
			claim: "one owner, available",
			shows: func(o outcome) bool { return o.owners == 1 && o.available },
		},
		{
			approach: "redlock, 5 nodes", failure: "3 nodes killed, stay down", nodes: 5,
			run:   redlockFailure(3, false),
			claim: "one owner, unavailable",
			shows: func(o outcome) bool { return o.owners == 1 && !o.available },
		},
		{
			approach: "redlock, 5 nodes", failure: "3 nodes restarted empty (a majority lost its data)", nodes: 5,
			run:   redlockFailure(3, true),
			claim: "one owner, unavailable until the guard ends (the restarted nodes answered guarded)",
			shows: func(o outcome) bool { return o.owners == 1 && !o.available && o.guarded },
		},
	}
}

// runScenario starts the servers s needs, runs it, and stops them.
func runScenario(ctx context.Context, s scenario) (o outcome, err error) {
	cluster, err := leasetest.StartNodes(ctx, s.nodes)
	if err != nil {
		return o, err
	}
	defer func() { err = errors.Join(err, cluster.Close()) }()
	e := env{nodes: cluster.Nodes}
	if s.replica {
		if e.replica, err = leasetest.StartReplica(ctx, cluster.Nodes[0]); err != nil {
			return o, err
		}
		defer func() { err = errors.Join(err, e.replica.Close()) }()
	}
	return s.run(ctx, e)
}
