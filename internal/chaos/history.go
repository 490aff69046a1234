package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
)

// Outcomes of a recorded operation.
const (
	OK       = "ok"       // it took effect
	Failed   = "fail"     // it definitely did not take effect
	Rejected = "rejected" // the store refused a stale token
	Unknown  = "unknown"  // no answer (timeout, closed connection): it may or may not have
)

// Kinds of recorded operations.
const (
	KindAcquire  = "acquire"
	KindExtend   = "extend"
	KindRelease  = "release"
	KindSection  = "section"  // a critical section: Call is its entry, Return its exit
	KindRegWrite = "regwrite" // a fenced register write
	KindRegRead  = "regread"  // a register read
)

// Record is one operation as its client saw it. Call and Return are real
// wall-clock times in Unix nanoseconds, comparable across the processes of
// one machine (never the client's own, possibly skewed, lease clock).
type Record struct {
	Proc     int    `json:"p"`
	Worker   int    `json:"w"`
	Kind     string `json:"k"`
	Resource string `json:"r"`
	Call     int64  `json:"c"`
	Return   int64  `json:"t"`
	Outcome  string `json:"o"`
	Token    int64  `json:"tok,omitempty"`
	Value    string `json:"v,omitempty"`   // the set element, or the register value written or read
	RegToken int64  `json:"rt,omitempty"`  // regread: the token read
	Err      string `json:"err,omitempty"` // why it failed
	Owner    string `json:"own,omitempty"` // acquire, release: the lease's owner value
	// Section only.
	Valid bool `json:"valid,omitempty"` // the lease was valid at exit, after the writes
	// Deadline is the lease's validity deadline in real time (Unix ns):
	// what the holder's clock promised at entry, or after its last
	// successful Extend, converted at the clock's rate. A lease found
	// lost meanwhile keeps it: a double grant must not excuse itself.
	Deadline    int64  `json:"dl,omitempty"`
	Plain       string `json:"plain,omitempty"` // outcome of the unfenced read-modify-write
	FencedRead  string `json:"fr,omitempty"`    // outcome of the fenced read
	FencedWrite string `json:"fw,omitempty"`    // outcome of the fenced write
	// Permits only (acquire, section): the limit K, and the resource whose
	// permit this is (Resource is then its slot, see SlotResource).
	Limit int    `json:"lim,omitempty"`
	Base  string `json:"base,omitempty"`
}

// client is the record's client id for porcupine: one per worker goroutine.
func (r Record) client(workers int) int { return r.Proc*workers + r.Worker }

// Recorder appends records as JSON lines to a file. Safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error
}

// NewRecorder creates path.
func NewRecorder(path string) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &Recorder{f: f, w: bufio.NewWriter(f)}, nil
}

// Add records r.
func (rec *Recorder) Add(r Record) {
	b, err := json.Marshal(r)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err == nil {
		_, err = rec.w.Write(append(b, '\n'))
	}
	if rec.err == nil {
		rec.err = err
	}
}

// Close flushes and closes the file, and returns the first error seen.
func (rec *Recorder) Close() error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if err := rec.w.Flush(); rec.err == nil {
		rec.err = err
	}
	if err := rec.f.Close(); rec.err == nil {
		rec.err = err
	}
	return rec.err
}

// ReadHistory reads the records of the given files, ordered by Call.
func ReadHistory(paths ...string) ([]Record, error) {
	var all []Record
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		line := 0
		for sc.Scan() {
			line++
			var r Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s:%d: %w", p, line, err)
			}
			all = append(all, r)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Call < all[j].Call })
	return all, nil
}
