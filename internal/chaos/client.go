package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/internal/faultseam"
	"github.com/redlease/redlease/lease"
)

// ClientEnv is the environment variable that carries a client process's
// ClientConfig (JSON).
const ClientEnv = "REDLEASE_CHAOS_CLIENT"

// ClientConfig is what one client process runs.
type ClientConfig struct {
	Proc        int
	Workers     int      // goroutines, each its own acquire/section/release loop
	Nodes       []string // lock node addresses (the proxies)
	Store       string   // the store's address
	Resources   []string
	TTL         time.Duration
	Guard       time.Duration // restart guard
	NodeTimeout time.Duration
	Wait        time.Duration // WithWait of each acquisition
	Hold        time.Duration // the section lasts up to this long between read and write
	Until       time.Time     // stop starting operations then
	Mark        bool          // set the store key insideKey(Proc) while inside a section, for the nemesis
	History     string        // where to write the records
	Seed        uint64
	// Permits, when above 0, makes the workers take one of Permits permits
	// of a resource (AcquirePermit) instead of its lease; each slot is then
	// a resource of the history, SlotResource(resource, slot).
	Permits int
}

// nodeClient is a go-redis client that fails fast, as a lock node's should.
func nodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                  addr,
		DialTimeout:           250 * time.Millisecond,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		PoolSize:              32,
	})
}

// RunClientFromEnv runs the client described by ClientEnv.
func RunClientFromEnv(ctx context.Context) error {
	var cfg ClientConfig
	if err := json.Unmarshal([]byte(os.Getenv(ClientEnv)), &cfg); err != nil {
		return fmt.Errorf("chaos client: %s: %w", ClientEnv, err)
	}
	return RunClient(ctx, cfg)
}

// RunClient runs cfg's workers until cfg.Until and writes their history.
func RunClient(ctx context.Context, cfg ClientConfig) error {
	rec, err := NewRecorder(cfg.History)
	if err != nil {
		return err
	}
	nodes := make([]lease.Node, len(cfg.Nodes))
	var closers []*redis.Client
	for i, a := range cfg.Nodes {
		c := nodeClient(a)
		closers = append(closers, c)
		nodes[i] = c
	}
	store := redis.NewClient(&redis.Options{Addr: cfg.Store, MaxRetries: -1, ReadTimeout: 2 * time.Second})
	closers = append(closers, store)
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	lc, err := lease.New(nodes, lease.WithTTL(cfg.TTL), lease.WithRestartGuard(cfg.Guard), lease.WithNodeTimeout(cfg.NodeTimeout))
	if err != nil {
		rec.Close()
		return err
	}
	ctx, cancel := context.WithDeadline(ctx, cfg.Until)
	defer cancel()
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{cfg: cfg, id: w, lc: lc, store: store, rec: rec,
				rnd: rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.Proc*1000+w)))}
			wk.loop(ctx)
		}()
	}
	wg.Wait()
	lc.Close()
	return rec.Close()
}

type worker struct {
	cfg   ClientConfig
	id    int
	lc    *lease.Client
	store *redis.Client
	rec   *Recorder
	rnd   *rand.Rand
	seq   int
}

func now() int64 { return time.Now().UnixNano() }

func (w *worker) base(kind, resource string) Record {
	return Record{Proc: w.cfg.Proc, Worker: w.id, Kind: kind, Resource: resource, Call: now()}
}

func (w *worker) loop(ctx context.Context) {
	for ctx.Err() == nil {
		res := w.cfg.Resources[w.rnd.IntN(len(w.cfg.Resources))]
		r := w.base(KindAcquire, res)
		l, slot, err := w.acquire(ctx, res)
		r.Return = now()
		if w.cfg.Permits > 0 {
			r.Limit, r.Base = w.cfg.Permits, res
			if err == nil {
				res = SlotResource(res, slot)
				r.Resource = res
			}
		}
		if err != nil {
			r.Outcome, r.Err = Failed, err.Error()
			w.rec.Add(r)
			// A short pause before the next attempt, as a real worker would.
			time.Sleep(time.Duration(w.rnd.IntN(5)) * time.Millisecond)
			continue
		}
		r.Outcome, r.Token, r.Owner = OK, l.Token(), l.Owner()
		w.rec.Add(r)
		w.section(res, l, r.Limit, r.Base)
		rr := w.base(KindRelease, res)
		// Release uses a fresh context: the run's end must not leave a lock behind.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = l.Release(rctx)
		cancel()
		rr.Return, rr.Token, rr.Owner = now(), l.Token(), l.Owner()
		rr.Outcome = OK
		if err != nil {
			rr.Outcome, rr.Err = Failed, err.Error()
		}
		w.rec.Add(rr)
	}
}

// acquire takes res's lease, or one of its permits (and its slot).
func (w *worker) acquire(ctx context.Context, res string) (*lease.Lease, int, error) {
	if w.cfg.Permits == 0 {
		l, err := w.lc.Acquire(ctx, res, lease.WithWait(w.cfg.Wait))
		return l, 0, err
	}
	p, err := w.lc.AcquirePermit(ctx, res, w.cfg.Permits, lease.WithWait(w.cfg.Wait))
	if err != nil {
		return nil, 0, err
	}
	return p.Lease, p.Slot(), nil
}

// SlotResource names slot of resource's permits in a history: each slot is
// fenced and checked as a resource of its own.
func SlotResource(resource string, slot int) string { return fmt.Sprintf("%s/slot%d", resource, slot) }

// section is the critical section: a read-modify-write of both sets and a
// register write, all while the lease is (believed) held. It does not look
// at the lease's validity before writing: a process paused in between is
// exactly the zombie the fault suite wants to see fenced out.
func (w *worker) section(res string, l *lease.Lease, limit int, base string) {
	ctx := context.Background()
	k := keysOf(res)
	token := l.Token()
	w.seq++
	elem := fmt.Sprintf("p%dw%ds%d", w.cfg.Proc, w.id, w.seq)
	s := w.base(KindSection, res)
	s.Token, s.Value, s.Deadline = token, elem, realDeadline(l)
	s.Limit, s.Base = limit, base

	rr := w.base(KindRegRead, res)
	rt, rv, err := readReg(ctx, w.store, k)
	rr.Return, rr.Outcome, rr.RegToken, rr.Value = now(), outcomeOf(err), rt, rv
	w.rec.Add(rr)

	plain, plainErr := getString(ctx, w.store, k.plain)
	fenced, frErr := fencedReadScript.Run(ctx, w.store, []string{k.fence, k.fenced}, token).Slice()
	s.FencedRead = outcomeOf(frErr)
	if frErr == nil && fenced[0].(int64) == 0 {
		s.FencedRead = Rejected
	}
	if w.cfg.Mark { // the nemesis pauses this process now: between the reads and the writes
		w.store.Set(ctx, insideKey(w.cfg.Proc), token, 0)
		defer w.store.Del(ctx, insideKey(w.cfg.Proc))
	}

	if w.cfg.Hold > 0 {
		time.Sleep(time.Duration(w.rnd.Int64N(int64(w.cfg.Hold))))
	}
	if w.rnd.IntN(4) == 0 {
		e := w.base(KindExtend, res)
		err := l.Extend(ctx)
		e.Return, e.Token, e.Outcome = now(), token, OK
		if err != nil {
			e.Outcome, e.Err = Failed, err.Error()
		} else {
			s.Deadline = realDeadline(l)
		}
		w.rec.Add(e)
	}

	s.Plain = Failed
	if plainErr == nil {
		s.Plain = outcomeOf(w.store.Set(ctx, k.plain, appendElem(plain, elem), 0).Err())
	}
	s.FencedWrite = Failed
	if s.FencedRead == OK {
		n, err := fencedWriteScript.Run(ctx, w.store, []string{k.fence, k.fenced}, token, appendElem(fenced[1].(string), elem)).Int64()
		s.FencedWrite = outcomeOf(err)
		if err == nil && n == 0 {
			s.FencedWrite = Rejected
		}
	}

	wr := w.base(KindRegWrite, res)
	wr.Token, wr.Value = token, elem
	n, err := regWriteScript.Run(ctx, w.store, []string{k.reg}, token, elem).Int64()
	wr.Return, wr.Outcome = now(), outcomeOf(err)
	if err == nil && n == 0 {
		wr.Outcome = Rejected
	}
	w.rec.Add(wr)

	s.Return = now()
	s.Valid = l.Valid()
	s.Outcome = OK
	w.rec.Add(s)
}

// realDeadline is l's validity deadline in real Unix nanoseconds: the time
// its clock says is left, converted at that clock's rate.
func realDeadline(l *lease.Lease) int64 {
	left := l.ValidUntil().Sub(faultseam.Now())
	return time.Now().Add(time.Duration(float64(left) / faultseam.Rate())).UnixNano()
}
