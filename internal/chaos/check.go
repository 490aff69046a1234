package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// byResource partitions porcupine operations by the resource in their
// metadata: each resource is an independent lock and register.
func byResource(history []porcupine.Operation) [][]porcupine.Operation {
	parts := map[string][]porcupine.Operation{}
	var order []string
	for _, op := range history {
		r := op.Metadata.(Record).Resource
		if _, ok := parts[r]; !ok {
			order = append(order, r)
		}
		parts[r] = append(parts[r], op)
	}
	out := make([][]porcupine.Operation, 0, len(order))
	for _, r := range order {
		out = append(out, parts[r])
	}
	return out
}

// tokenModel: every acquisition that returned a token got one above every
// token returned before it began (I2 in real-time order). A failed
// acquisition returns no token and constrains nothing, but it stays in
// the history as the operation it was.
var tokenModel = porcupine.Model{
	Partition: byResource,
	Init:      func() interface{} { return int64(0) },
	Step: func(state, _, output interface{}) (bool, interface{}) {
		r := output.(Record)
		if r.Outcome != OK {
			return true, state
		}
		if r.Token <= state.(int64) {
			return false, state
		}
		return true, r.Token
	},
	DescribeOperation: func(_, output interface{}) string {
		r := output.(Record)
		if r.Outcome != OK {
			return fmt.Sprintf("acquire p%dw%d: %s", r.Proc, r.Worker, r.Outcome)
		}
		return fmt.Sprintf("acquire p%dw%d → token %d", r.Proc, r.Worker, r.Token)
	},
	DescribeState:             func(s interface{}) string { return fmt.Sprintf("last token %d", s) },
	DescribeOperationMetadata: func(m interface{}) string { return m.(Record).Err },
}

type regState struct {
	tok int64
	val string
}

// registerModel is the fenced register: a write is applied iff its token
// is above the register's, a rejected write changes nothing, a read
// returns the state; an operation without an answer may have been applied
// or not.
var registerModel = porcupine.NondeterministicModel{
	Partition: byResource,
	Init:      func() []interface{} { return []interface{}{regState{}} },
	Step: func(state, _, output interface{}) []interface{} {
		s, r := state.(regState), output.(Record)
		switch {
		case r.Kind == KindRegRead && r.Outcome == OK:
			if r.RegToken == s.tok && r.Value == s.val {
				return []interface{}{s}
			}
			return nil
		case r.Kind == KindRegRead:
			return []interface{}{s}
		case r.Outcome == OK:
			if r.Token > s.tok {
				return []interface{}{regState{r.Token, r.Value}}
			}
			return nil
		case r.Outcome == Rejected:
			if r.Token <= s.tok {
				return []interface{}{s}
			}
			return nil
		default: // unknown
			if r.Token > s.tok {
				return []interface{}{s, regState{r.Token, r.Value}}
			}
			return []interface{}{s}
		}
	},
	DescribeOperation: func(_, output interface{}) string {
		r := output.(Record)
		if r.Kind == KindRegRead {
			return fmt.Sprintf("read → %d:%s (%s)", r.RegToken, r.Value, r.Outcome)
		}
		return fmt.Sprintf("write %d:%s → %s", r.Token, r.Value, r.Outcome)
	},
	DescribeState: func(s interface{}) string { return fmt.Sprintf("%d:%s", s.(regState).tok, s.(regState).val) },
}

// operations turns records into porcupine operations. An operation
// without an answer (Unknown) stays open to the end of the history.
func operations(records []Record, kinds ...string) []porcupine.Operation {
	var end int64
	for _, r := range records {
		end = max(end, r.Return)
	}
	var ops []porcupine.Operation
	for _, r := range records {
		match := false
		for _, k := range kinds {
			match = match || r.Kind == k
		}
		if !match {
			continue
		}
		ret := r.Return
		if r.Outcome == Unknown {
			ret = end + 1
		}
		ops = append(ops, porcupine.Operation{ClientId: r.Proc*100 + r.Worker, Call: r.Call, Return: ret, Output: r, Metadata: r})
	}
	return ops
}

// linearizability checks ops against model; on a violation it writes
// porcupine's visualization to vizPath.
func linearizability(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration, vizPath string) (porcupine.CheckResult, error) {
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res == porcupine.Illegal && vizPath != "" {
		if err := porcupine.VisualizePath(model, info, vizPath); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Overlap is two critical sections of one resource that ran at once.
type Overlap struct {
	A, B Record
	// Broken names the assumption broken on purpose for one of them ("" if
	// none): then the overlap is a cost, not a violation.
	Broken string
	// Expired: they never ran at once while both leases were within their
	// validity deadlines (one holder went on past its deadline; its lease
	// said so, and a careful holder would have stopped).
	Expired bool
}

// Violation reports whether this overlap breaks the promise: both holders
// inside at one instant while both leases were within their deadlines,
// no assumption broken.
func (o Overlap) Violation() bool { return o.Broken == "" && !o.Expired }

func (o Overlap) String() string {
	return fmt.Sprintf("%s: %s and %s", o.A.Resource, describeSection(o.A), describeSection(o.B))
}

func describeSection(r Record) string {
	return fmt.Sprintf("p%dw%d token %d in [%s, %s] deadline %s, valid at exit %v", r.Proc, r.Worker, r.Token,
		clockTime(r.Call), clockTime(r.Return), clockTime(r.Deadline), r.Valid)
}

func clockTime(ns int64) string { return time.Unix(0, ns).Format("15:04:05.000000") }

// protected is the part of a section its lease covered: from entry to the
// earlier of its exit and its validity deadline (empty when it entered
// after the deadline).
func protected(r Record) (from, till int64) { return r.Call, min(r.Return, r.Deadline) }

// sectionsByResource groups the section records by resource, each group
// ordered by entry.
func sectionsByResource(records []Record) map[string][]Record {
	secs := map[string][]Record{}
	for _, r := range records {
		if r.Kind == KindSection {
			secs[r.Resource] = append(secs[r.Resource], r)
		}
	}
	for _, list := range secs {
		sort.Slice(list, func(i, j int) bool { return list[i].Call < list[j].Call })
	}
	return secs
}

// overlaps finds every pair of sections on one resource that ran at once.
// brokenFor names the assumption broken for a section, if any.
func overlaps(records []Record, brokenFor func(Record) string) []Overlap {
	var out []Overlap
	for _, list := range sectionsByResource(records) {
		var active []Record
		for _, s := range list {
			kept := active[:0]
			for _, a := range active {
				if a.Return > s.Call {
					kept = append(kept, a)
				}
			}
			active = kept
			for _, a := range active {
				if a.Proc == s.Proc && a.Worker == s.Worker {
					continue
				}
				af, at := protected(a)
				sf, st := protected(s)
				o := Overlap{A: a, B: s, Expired: max(af, sf) >= min(at, st)}
				if o.Broken = brokenFor(a); o.Broken == "" {
					o.Broken = brokenFor(s)
				}
				out = append(out, o)
			}
			active = append(active, s)
		}
	}
	return out
}

// tokenOrder checks I2 in the order holders held the resource: a section
// that entered (within its deadline) after another ended has the higher
// token. (Porcupine's token check orders acquisitions by their calls, and
// an Acquire that waits spans many holders.) Sections with an assumption
// broken, or entered past their deadline, are left out.
func tokenOrder(records []Record, brokenFor func(Record) string) []string {
	var bad []string
	for res, list := range sectionsByResource(records) {
		var ended []Record // sections by exit, to fold into best
		var best *Record   // highest token among sections that ended
		var live []Record
		for _, s := range list {
			if brokenFor(s) != "" || s.Deadline <= s.Call {
				continue
			}
			live = append(live, s)
		}
		ended = append(ended, live...)
		sort.Slice(ended, func(i, j int) bool { return ended[i].Return < ended[j].Return })
		next := 0
		for _, s := range live {
			for next < len(ended) && ended[next].Return < s.Call {
				if best == nil || ended[next].Token > best.Token {
					best = &ended[next]
				}
				next++
			}
			if best != nil && s.Token <= best.Token {
				bad = append(bad, fmt.Sprintf("%s: %s entered after %s ended, with a token not above it", res, describeSection(s), describeSection(*best)))
			}
		}
	}
	return bad
}

// setLoss compares the acknowledged elements with a final set: lost are
// acknowledged elements missing from it, dups elements present twice.
func setLoss(acked []Record, final []string) (lost []Record, dups []string) {
	seen := map[string]int{}
	for _, e := range final {
		seen[e]++
		if seen[e] == 2 {
			dups = append(dups, e)
		}
	}
	for _, r := range acked {
		if seen[r.Value] == 0 {
			lost = append(lost, r)
		}
	}
	return lost, dups
}

// window returns the records of resource within d of t, for a report.
func window(records []Record, resource string, t int64, d time.Duration) []Record {
	var out []Record
	for _, r := range records {
		if r.Resource == resource && r.Return >= t-int64(d) && r.Call <= t+int64(d) {
			out = append(out, r)
		}
	}
	return out
}

// PermitExcess is an instant at which more valid permit holders of one
// resource were inside their sections than its limit.
type PermitExcess struct {
	Resource string
	Limit    int
	Inside   []Record // the sections inside at that instant
}

func (e PermitExcess) String() string {
	parts := make([]string, len(e.Inside))
	for i, r := range e.Inside {
		parts[i] = r.Resource + " " + describeSection(r)
	}
	return fmt.Sprintf("%s: %d holders inside at once, limit %d: %s", e.Resource, len(e.Inside), e.Limit, strings.Join(parts, "; "))
}

// permitExcesses sweeps the protected parts of the permit sections of each
// resource (sections with no assumption broken, see brokenFor) and reports
// every instant where more than the limit were inside at once.
func permitExcesses(records []Record, brokenFor func(Record) string) []PermitExcess {
	byBase := map[string][]Record{}
	for _, r := range records {
		if r.Kind == KindSection && r.Limit > 0 && brokenFor(r) == "" {
			if from, till := protected(r); from < till {
				byBase[r.Base] = append(byBase[r.Base], r)
			}
		}
	}
	var out []PermitExcess
	for base, list := range byBase {
		sort.Slice(list, func(i, j int) bool { return list[i].Call < list[j].Call })
		var inside []Record
		for _, s := range list {
			kept := inside[:0]
			for _, a := range inside {
				if _, till := protected(a); till > s.Call {
					kept = append(kept, a)
				}
			}
			inside = append(kept, s)
			if len(inside) > s.Limit {
				out = append(out, PermitExcess{Resource: base, Limit: s.Limit, Inside: slices.Clone(inside)})
			}
		}
	}
	return out
}
