package chaos

import "time"

// Bounded is the profile make test runs: every fault kind once, for four
// seconds each (and the recovery after it), about 90 seconds in all.
func Bounded(seed uint64) Profile {
	return Profile{Name: "bounded", Seed: seed, Phase: 4 * time.Second}
}

// Long is make chaos's profile: every fault kind in rounds reshuffled by the
// seed, 40 seconds each (and the recovery after it); 5 rounds take about
// 35 minutes.
func Long(seed uint64, rounds int) Profile {
	return Profile{Name: "long", Seed: seed, Phase: 40 * time.Second, Rounds: rounds, Resources: 3}
}

// Broken is a run against a build with brk broken on purpose (see
// internal/faultseam), under the given faults, with sections long enough
// that two holders overlap when the break lets them.
func Broken(seed uint64, brk string, faults ...string) Profile {
	return Profile{Name: "broken-" + brk, Seed: seed, Break: brk, Faults: faults, Phase: 16 * time.Second,
		Hold: 750 * time.Millisecond, Resources: 1}
}

// BoundedPermits is the permit workload's profile in make test: six
// workers take one of 2 permits of one resource, every fault kind once,
// for three seconds each (and the recovery after it), about 70 seconds.
func BoundedPermits(seed uint64) Profile {
	return Profile{Name: "permits", Seed: seed, Phase: 3 * time.Second, Permits: 2, Resources: 1}
}
