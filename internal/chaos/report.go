package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// KindStats are the figures of one fault kind (all its phases).
type KindStats struct {
	Kind        string
	Events      int // faults injected
	LeaseOps    int // acquire, extend and release calls
	Acquired    int // acquisitions that returned a lease
	Sections    int
	Violations  int // of what the README promises: 0 expected
	Overlaps    int // sections that ran at once but excused: under a broken assumption, or past a deadline
	PlainLost   int // acknowledged unfenced writes lost
	FencedLost  int // acknowledged fenced writes lost: 0 expected, always
	StaleFenced int // sections whose fenced read or write the store refused
}

// Report is what the checkers found in one run.
type Report struct {
	Profile    string
	Seed       uint64
	Break      string
	Duration   time.Duration
	Kinds      []KindStats // in the order of AllFaults, "none" (no fault) first
	Tokens     porcupine.CheckResult
	Register   porcupine.CheckResult
	Violations []string
	Events     []Event
	// Unreleased counts locks found right after the clients ended whose
	// Release never returned (a process stopped mid-section): they expire
	// by their TTL.
	Unreleased int
}

// OK reports whether no promise was broken.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// LeaseOps is the number of lease operations in the run.
func (r *Report) LeaseOps() int {
	n := 0
	for _, k := range r.Kinds {
		n += k.LeaseOps
	}
	return n
}

func check(p Profile, records []Record, phases []phase, events []Event, injected map[string]int, pauses []pauseWindow, final finalState) *Report {
	rep := &Report{Profile: p.Name, Seed: p.Seed, Break: p.Break, Events: events}
	stats := map[string]*KindStats{"none": {Kind: "none"}}
	for _, k := range p.Faults {
		stats[k] = &KindStats{Kind: k}
	}
	for k, n := range injected {
		if s := stats[k]; s != nil {
			s.Events = n
		}
	}
	kindAt := func(t int64) *KindStats {
		for _, ph := range phases {
			if t >= ph.from && t < ph.till {
				return stats[ph.kind]
			}
		}
		return stats["none"]
	}
	skewed := map[int]bool{} // procs spawned with their clock at half speed
	for _, r := range records {
		if r.Proc >= p.Procs && kindAt(r.Call).Kind == FaultClockSkew {
			skewed[r.Proc] = true
		}
	}
	// brokenFor names the assumption broken for a section: its process's
	// clock ran at half speed, or the process was paused during it. A
	// section of the paused client that no pause touched is held to the
	// promise like any other.
	brokenFor := func(r Record) string {
		if skewed[r.Proc] {
			return FaultClockSkew
		}
		for _, pw := range pauses {
			if pw.proc == r.Proc && pw.from < r.Return && pw.till > r.Call {
				return FaultPauseClient
			}
		}
		return ""
	}
	// violate records a violation, counted against fault kind s, or against
	// the run as a whole when s is nil.
	violate := func(s *KindStats, format string, args ...any) {
		label := "whole run"
		if s != nil {
			s.Violations++
			label = s.Kind
		}
		rep.Violations = append(rep.Violations, fmt.Sprintf("[%s] ", label)+fmt.Sprintf(format, args...))
	}

	for _, r := range records {
		s := kindAt(r.Call)
		switch r.Kind {
		case KindAcquire, KindExtend, KindRelease:
			s.LeaseOps++
			if r.Kind == KindAcquire && r.Outcome == OK {
				s.Acquired++
			}
		case KindSection:
			s.Sections++
			if r.FencedRead == Rejected || r.FencedWrite == Rejected {
				s.StaleFenced++
			}
		}
	}

	for _, o := range overlaps(records, brokenFor) {
		s := kindAt(max(o.A.Call, o.B.Call))
		if !o.Violation() {
			s.Overlaps++
		}
		if o.Violation() {
			violate(s, "mutual exclusion: two valid holders at once: %s", o)
			rep.slice(p.Dir, records, o.A.Resource, o.B.Call, fmt.Sprintf("overlap-%d", len(rep.Violations)))
		}
	}

	for _, e := range permitExcesses(records, brokenFor) {
		s := kindAt(e.Inside[len(e.Inside)-1].Call)
		violate(s, "permit limit: %s", e)
	}

	for _, v := range tokenOrder(records, brokenFor) {
		violate(nil, "fencing tokens out of holder order: %s", v)
	}

	var plainAcked, fencedAcked []Record
	for _, r := range records {
		if r.Kind != KindSection {
			continue
		}
		if r.Plain == OK {
			plainAcked = append(plainAcked, r)
		}
		if r.FencedWrite == OK {
			fencedAcked = append(fencedAcked, r)
		}
	}
	for res := range final.plain {
		of := func(list []Record) []Record {
			var out []Record
			for _, r := range list {
				if r.Resource == res {
					out = append(out, r)
				}
			}
			return out
		}
		lost, dups := setLoss(of(plainAcked), final.plain[res])
		for _, r := range lost {
			kindAt(r.Call).PlainLost++
		}
		for _, d := range dups {
			violate(nil, "unfenced set of %s holds %s twice", res, d)
		}
		lost, dups = setLoss(of(fencedAcked), final.fenced[res])
		for _, r := range lost {
			s := kindAt(r.Call)
			s.FencedLost++
			violate(s, "fenced set of %s lost acknowledged element %s (token %d)", res, r.Value, r.Token)
		}
		for _, d := range dups {
			violate(nil, "fenced set of %s holds %s twice", res, d)
		}
	}
	released := map[string]bool{}
	for _, r := range records {
		if r.Kind == KindRelease && r.Outcome == OK {
			released[r.Owner] = true
		}
	}
	// Release returns once a quorum released; a node that timed out may
	// keep the lock until its TTL. A quorum still holding it is a violation.
	quorum := p.Nodes/2 + 1
	held := map[string][]int{}
	for _, l := range final.leftover {
		held[l.key+" "+l.owner] = append(held[l.key+" "+l.owner], l.node)
	}
	for k, nodes := range held {
		key, owner, _ := strings.Cut(k, " ")
		switch {
		case released[owner] && len(nodes) >= quorum:
			violate(nil, "lock %s still on nodes %v after its Release returned", key, nodes)
		case !released[owner]:
			rep.Unreleased++
		}
	}

	timeout := 2 * time.Minute
	var err error
	rep.Tokens, err = linearizability(tokenModel, operations(records, KindAcquire), timeout, filepath.Join(p.Dir, "tokens.html"))
	if err != nil || rep.Tokens != porcupine.Ok { // Unknown (timed out) fails too: unchecked is not passed
		violate(nil, "fencing tokens are not consistent with real-time order: porcupine says %s (Unknown: the check timed out; %v); see %s",
			rep.Tokens, err, filepath.Join(p.Dir, "tokens.html"))
	}
	rep.Register, err = linearizability(registerModel.ToModel(), operations(records, KindRegWrite, KindRegRead), timeout, filepath.Join(p.Dir, "register.html"))
	if err != nil || rep.Register != porcupine.Ok {
		violate(nil, "the fenced register is not linearizable: porcupine says %s (Unknown: the check timed out; %v); see %s",
			rep.Register, err, filepath.Join(p.Dir, "register.html"))
	}

	for _, k := range append([]string{"none"}, AllFaults...) {
		if s := stats[k]; s != nil {
			rep.Kinds = append(rep.Kinds, *s)
		}
	}
	return rep
}

// slice writes the records around t for one violation.
func (r *Report) slice(dir string, records []Record, resource string, t int64, name string) {
	var b strings.Builder
	for _, rec := range window(records, resource, t, 2*time.Second) {
		fmt.Fprintf(&b, "%+v\n", rec)
	}
	path := filepath.Join(dir, name+".txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err == nil {
		r.Violations[len(r.Violations)-1] += " (history slice: " + path + ")"
	}
}

// write saves the schedule and the summary next to the histories.
func (r *Report) write(dir string, _ []Record) error {
	var b strings.Builder
	for _, e := range r.Events {
		b.WriteString(e.String() + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "schedule.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(r.String()), 0o644)
}

// Table is the per-kind figures as a Markdown table.
func (r *Report) Table() string {
	var b strings.Builder
	b.WriteString("| fault | injected | lease ops | sections | violations | excused overlaps | unfenced lost | fenced lost | stale fenced refused |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range r.Kinds {
		name := k.Kind
		if breaksAssumption(k.Kind) {
			name += " *"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d |\n", name, k.Events, k.LeaseOps, k.Sections,
			k.Violations, k.Overlaps, k.PlainLost, k.FencedLost, k.StaleFenced)
	}
	return b.String()
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos %s: seed %d, break %q, %v, %d lease operations; tokens: %s, register: %s; unreleased locks at the end: %d\n",
		r.Profile, r.Seed, r.Break, r.Duration.Round(time.Second), r.LeaseOps(), r.Tokens, r.Register, r.Unreleased)
	b.WriteString(r.Table())
	if !r.OK() {
		fmt.Fprintf(&b, "%d violations (replay: go run ./internal/chaos/cmd/chaos -seed %d):\n", len(r.Violations), r.Seed)
		for i, v := range r.Violations {
			if i == 20 {
				fmt.Fprintf(&b, "… and %d more\n", len(r.Violations)-20)
				break
			}
			b.WriteString("  " + v + "\n")
		}
		b.WriteString("schedule:\n")
		for _, e := range r.Events {
			b.WriteString("  " + e.String() + "\n")
		}
	}
	return b.String()
}
