package breaker

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// tickP is the tick period of the Locals under test (the filter's tickIdle).
const tickP = 10 * time.Millisecond

// counting is a store that counts its operations.
type counting struct {
	store.Store
	gets, sets atomic.Int64
}

func (c *counting) Get(key string) ([]byte, uint32, error) {
	c.gets.Add(1)
	return c.Store.Get(key)
}

func (c *counting) Set(key string, v []byte, cas uint32) error {
	c.sets.Add(1)
	return c.Store.Set(key, v, cas)
}

func (c *counting) ops() int64 { return c.gets.Load() + c.sets.Load() }

// worker is one simulated worker VM: its own Breaker and Local.
func worker(s Settings, views int) *Local { return New("cb", 16, s).NewLocal(tickP, views) }

func mustAllow(t *testing.T, l *Local, st store.Store, key string, now time.Time) (Token, bool) {
	t.Helper()
	tok, ok, _, err := l.Allow(st, key, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok, ok
}

func mustReport(t *testing.T, l *Local, st store.Store, key string, tok Token, now time.Time, o Outcome) []Transition {
	t.Helper()
	tr, err := l.Report(st, key, tok, now, o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func mustTick(t *testing.T, l *Local, st store.Store, now time.Time) {
	t.Helper()
	if err := l.Tick(st, now, nil); err != nil {
		t.Fatal(err)
	}
}

func inspect(t *testing.T, l *Local, st store.Store, key string, now time.Time) Snapshot {
	t.Helper()
	sn, err := l.Breaker().Inspect(st, key, now)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestLocalOpeningOneTickLate is the bound of the local views: a breaker
// opens on worker A while worker B holds a fresh, closed, clean view read at
// r; B admits until r + one tick period (the last instant before it is
// reached) and not from then on, and a tick of B in between re-reads the
// view, after which B rejects at once.
func TestLocalOpeningOneTickLate(t *testing.T) {
	s := Settings{WindowSize: 10, MinimumCalls: 2, FailureRateThreshold: 0.5, OpenDuration: time.Hour}
	for _, withTick := range []bool{false, true} {
		t.Run(fmt.Sprintf("tick=%v", withTick), func(t *testing.T) {
			st := &counting{Store: store.NewMem(0, 1)}
			a, b := worker(s, 1), worker(s, 1)
			r := t0
			if _, ok := mustAllow(t, b, st, "", r); !ok { // B's view: read at r
				t.Fatal("B rejected on a closed breaker")
			}
			// A fails twice: 2 failures in 2 calls opens it.
			var opened bool
			for i := 1; i <= 2; i++ {
				now := r.Add(time.Duration(i) * time.Millisecond)
				tok, _ := mustAllow(t, a, st, "", now)
				for _, tr := range mustReport(t, a, st, "", tok, now, Outcome{Failure: true}) {
					opened = opened || tr.To == Open
				}
			}
			if !opened || inspect(t, a, st, "", r).State != Open {
				t.Fatal("A's failures did not open the breaker")
			}
			if _, ok := mustAllow(t, a, st, "", r.Add(3*time.Millisecond)); ok {
				t.Fatal("A admits after its own failure opened the breaker")
			}
			if withTick {
				at := r.Add(tickP / 2)
				before := st.ops()
				mustTick(t, b, st, at) // B admitted locally? Not yet: nothing to re-read
				if st.ops() != before {
					t.Fatalf("tick of an unused view: %d store operations", st.ops()-before)
				}
				if _, ok := mustAllow(t, b, st, "", at); !ok {
					t.Fatal("B's fresh view rejected before its tick")
				}
				mustTick(t, b, st, at) // re-reads the used view: open
				if _, ok := mustAllow(t, b, st, "", at); ok {
					t.Fatal("B admits after its tick re-read an open breaker")
				}
				return
			}
			// The bound is reached: B still admits at r + period - 1ns, with no
			// store operation...
			before := st.ops()
			for _, d := range []time.Duration{4 * time.Millisecond, tickP - 1} {
				tok, ok := mustAllow(t, b, st, "", r.Add(d))
				if !ok || tok.Generation != 1 {
					t.Fatalf("B at r+%v: admitted %v (token %+v), want admitted locally at generation 1", d, ok, tok)
				}
			}
			if st.ops() != before {
				t.Fatalf("B's local admissions cost %d store operations", st.ops()-before)
			}
			// ...its outcomes of the old generation are not counted...
			tok, _ := mustAllow(t, b, st, "", r.Add(tickP-1))
			mustReport(t, b, st, "", tok, r.Add(tickP-1), Outcome{})
			// ...and from r + period on it rejects.
			for _, d := range []time.Duration{tickP, tickP + 1, 2 * tickP, time.Minute} {
				if _, ok := mustAllow(t, b, st, "", r.Add(d)); ok {
					t.Fatalf("B admits at r+%v, after its view expired", d)
				}
			}
			mustTick(t, b, st, r.Add(2*tickP))
			if sn := inspect(t, b, st, "", r.Add(2*tickP)); sn.State != Open || sn.Generation != 2 || b.Pending("") != 0 {
				t.Fatalf("after B's tick: %+v, pending %d; want open at generation 2, nothing pending", sn, b.Pending(""))
			}
		})
	}
}

// TestLocalExactWhereOneFailureOpens: a view whose breaker one failure can
// open (consecutive_failures 1, a window with a failure already) never
// admits locally, so another worker's opening is seen at once.
func TestLocalExactWhereOneFailureOpens(t *testing.T) {
	for name, s := range map[string]Settings{
		"consecutive_failures=1": {ConsecutiveFailures: 1, OpenDuration: time.Hour},
		"minimum_calls=1":        {WindowSize: 10, MinimumCalls: 1, OpenDuration: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			st := store.NewMem(0, 1)
			a, b := worker(s, 1), worker(s, 1)
			mustAllow(t, b, st, "", t0)
			tok, _ := mustAllow(t, a, st, "", t0)
			mustReport(t, a, st, "", tok, t0, Outcome{Failure: true})
			if _, ok := mustAllow(t, b, st, "", t0); ok {
				t.Fatal("B admitted after A's failure opened the breaker")
			}
		})
	}
	t.Run("window with a failure", func(t *testing.T) {
		s := Settings{WindowSize: 10, MinimumCalls: 4, FailureRateThreshold: 0.5, OpenDuration: time.Hour}
		st := store.NewMem(0, 1)
		a, b := worker(s, 1), worker(s, 1)
		for i, f := range []bool{false, true, false} {
			tok, _ := mustAllow(t, a, st, "", t0)
			mustReport(t, a, st, "", tok, t0.Add(time.Duration(i)), Outcome{Failure: f})
		}
		mustAllow(t, b, st, "", t0) // reads a window holding a failure
		tok, _ := mustAllow(t, a, st, "", t0)
		if tr := mustReport(t, a, st, "", tok, t0, Outcome{Failure: true}); len(tr) != 1 || tr[0].To != Open {
			t.Fatalf("2 failures of 4 calls: %+v, want the opening", tr)
		}
		if _, ok := mustAllow(t, b, st, "", t0); ok {
			t.Fatal("B admitted after A opened the breaker, its view held a failure")
		}
	})
}

// TestLocalHealthyCostsNothing: after warm-up, a healthy breaker's requests
// cost no store operation; the tick flushes them in one Update (a read and
// a write) and every success is in the window.
func TestLocalHealthyCostsNothing(t *testing.T) {
	s := Settings{WindowSize: 1000, MinimumCalls: 100, FailureRateThreshold: 0.5}
	st := &counting{Store: store.NewMem(0, 1)}
	l := worker(s, 1)
	now := t0
	tok, _ := mustAllow(t, l, st, "", now)        // warm-up: one read...
	mustReport(t, l, st, "", tok, now, Outcome{}) // ...and the first outcome creates the record
	before := st.ops()
	gets, sets := st.gets.Load(), st.sets.Load()
	for i := range 500 {
		now = t0.Add(time.Duration(i) * time.Microsecond)
		tok, ok := mustAllow(t, l, st, "", now)
		if !ok {
			t.Fatal("rejected")
		}
		mustReport(t, l, st, "", tok, now, Outcome{Duration: time.Millisecond})
	}
	if n := st.ops() - before; n != 0 {
		t.Fatalf("500 healthy requests: %d store operations, want 0", n)
	}
	mustTick(t, l, st, now)
	if g, s := st.gets.Load()-gets, st.sets.Load()-sets; g != 1 || s != 1 {
		t.Fatalf("tick: %d gets %d sets, want 1 and 1", g, s)
	}
	if sn := inspect(t, l, st, "", now); sn.Calls != 501 || sn.Failures != 0 {
		t.Fatalf("window %+v, want 501 calls", sn)
	}
	// A request released (no outcome) counts nothing.
	tok, _ = mustAllow(t, l, st, "", now)
	if err := l.Release(st, "", tok, now); err != nil {
		t.Fatal(err)
	}
	mustTick(t, l, st, now)
	if sn := inspect(t, l, st, "", now); sn.Calls != 501 {
		t.Fatalf("a released request was counted: %d calls", sn.Calls)
	}
}

// TestLocalFailureCarriesPending: a failure is reported at once, together
// with the worker's pending successes, so the decision sees them.
func TestLocalFailureCarriesPending(t *testing.T) {
	s := Settings{WindowSize: 10, MinimumCalls: 4, FailureRateThreshold: 0.5, OpenDuration: time.Hour}
	st := store.NewMem(0, 1)
	l := worker(s, 1)
	for range 3 {
		tok, _ := mustAllow(t, l, st, "", t0)
		mustReport(t, l, st, "", tok, t0, Outcome{})
	}
	if l.Pending("") != 2 || inspect(t, l, st, "", t0).Calls != 1 {
		t.Fatalf("pending %d, window %+v: want the first success in the store (it creates the record), 2 pending", l.Pending(""), inspect(t, l, st, "", t0))
	}
	tok, _ := mustAllow(t, l, st, "", t0)
	if tr := mustReport(t, l, st, "", tok, t0, Outcome{Failure: true}); len(tr) != 0 {
		t.Fatalf("1 failure in 4 calls opened it: %+v", tr)
	}
	if sn := inspect(t, l, st, "", t0); sn.Calls != 4 || sn.Failures != 1 || l.Pending("") != 0 {
		t.Fatalf("window %+v pending %d, want 4 calls 1 failure, nothing pending", sn, l.Pending(""))
	}
	// A slow success is reported at once too.
	s.SlowCallDuration = time.Second
	st2 := store.NewMem(0, 1)
	l2 := worker(s, 1)
	tok, _ = mustAllow(t, l2, st2, "", t0)
	mustReport(t, l2, st2, "", tok, t0, Outcome{})
	tok, _ = mustAllow(t, l2, st2, "", t0)
	mustReport(t, l2, st2, "", tok, t0, Outcome{Duration: 2 * time.Second})
	if sn := inspect(t, l2, st2, "", t0); sn.Calls != 2 || sn.Slow != 1 {
		t.Fatalf("window %+v, want 2 calls, 1 slow", sn)
	}
}

// TestLocalSuccessThatOpensIsReportedAtOnce: while the window holds a
// failure and fewer than minimum_calls, a success may open the breaker (the
// rates are checked from minimum_calls on): it is reported at once, as
// without a Local.
func TestLocalSuccessThatOpensIsReportedAtOnce(t *testing.T) {
	s := Settings{WindowSize: 10, MinimumCalls: 4, FailureRateThreshold: 0.5, OpenDuration: time.Hour}
	st := store.NewMem(0, 1)
	l := worker(s, 1)
	for _, f := range []bool{true, true, true} {
		tok, _ := mustAllow(t, l, st, "", t0)
		mustReport(t, l, st, "", tok, t0, Outcome{Failure: f})
	}
	tok, _ := mustAllow(t, l, st, "", t0)
	if tr := mustReport(t, l, st, "", tok, t0, Outcome{}); len(tr) != 1 || tr[0].To != Open || tr[0].Calls != 4 {
		t.Fatalf("3 failures then a success: %+v, want the opening at 4 calls", tr)
	}
}

// TestLocalConcurrentFlushLosesNothing: 8 workers on one store with CAS
// conflicts count successes locally, report failures at once and flush at
// their ticks: the window holds exactly every outcome.
func TestLocalConcurrentFlushLosesNothing(t *testing.T) {
	for _, s := range []Settings{
		{WindowSize: 10000, MinimumCalls: 10000, FailureRateThreshold: 1},
		{Window: TimeWindow, WindowDuration: time.Hour, Buckets: 4, MinimumCalls: 100000, FailureRateThreshold: 1},
	} {
		t.Run(s.Window.String(), func(t *testing.T) {
			st := store.NewMem(0.2, 7)
			ls := make([]*Local, workers)
			for i := range ls {
				ls[i] = worker(s, 1)
			}
			retry(t, func() error { // create the record before the race
				tok, _, _, err := ls[0].Allow(st, "", t0)
				if err != nil {
					return err
				}
				_, err = ls[0].Report(st, "", tok, t0, Outcome{Failure: true})
				return err
			})
			var fails atomic.Int64
			fails.Add(1)
			const rounds, per = 10, 100
			parallel(workers, func(w int) {
				rnd := rand.New(rand.NewPCG(uint64(w), 3))
				for round := range rounds {
					now := t0.Add(time.Duration(round) * tickP)
					for range per {
						var tok Token
						retry(t, func() (err error) {
							tok, _, _, err = ls[w].Allow(st, "", now)
							return err
						})
						f := rnd.IntN(10) == 0
						if f {
							fails.Add(1)
						}
						retry(t, func() error {
							_, err := ls[w].Report(st, "", tok, now, Outcome{Failure: f})
							return err
						})
					}
					if err := ls[w].Tick(st, now, nil); err != nil && !errors.Is(err, store.ErrContended) {
						t.Error(err)
					}
				}
			})
			end := t0.Add(rounds * tickP)
			for _, l := range ls {
				retry(t, func() error { return l.Tick(st, end, nil) })
				if l.Pending("") != 0 {
					t.Fatal("successes still pending after the last tick")
				}
			}
			sn := inspect(t, ls[0], st, "", end)
			if sn.State != Closed || sn.Calls != 1+workers*rounds*per || int64(sn.Failures) != fails.Load() {
				t.Fatalf("window %+v, want closed with %d calls, %d failures", sn, 1+workers*rounds*per, fails.Load())
			}
		})
	}
}

// TestLocalHalfOpenExact: with Locals, half-open still admits exactly
// half_open_calls probes across the workers, and their successes close it.
func TestLocalHalfOpenExact(t *testing.T) {
	s := Settings{WindowSize: 10, MinimumCalls: 2, FailureRateThreshold: 0.5, OpenDuration: 10 * s1, HalfOpenCalls: 3}
	st := store.NewMem(0.2, 5)
	ls := make([]*Local, workers)
	for i := range ls {
		ls[i] = worker(s, 1)
	}
	for range 2 {
		retry(t, func() error {
			tok, _, _, err := ls[0].Allow(st, "", t0)
			if err != nil {
				return err
			}
			_, err = ls[0].Report(st, "", tok, t0, Outcome{Failure: true})
			return err
		})
	}
	now := t0.Add(10 * s1)
	var probes []Token
	var owner []int
	for round := range 5 {
		for w, l := range ls {
			var tok Token
			var ok bool
			retry(t, func() (err error) {
				tok, ok, _, err = l.Allow(st, "", now.Add(time.Duration(round)))
				return err
			})
			if ok {
				if !tok.Probe {
					t.Fatalf("non-probe admitted in half-open: %+v", tok)
				}
				probes, owner = append(probes, tok), append(owner, w)
			}
		}
	}
	if len(probes) != 3 {
		t.Fatalf("%d probes admitted, want 3", len(probes))
	}
	for i, tok := range probes {
		retry(t, func() error {
			_, err := ls[owner[i]].Report(st, "", tok, now, Outcome{})
			return err
		})
	}
	if sn := inspect(t, ls[0], st, "", now); sn.State != Closed {
		t.Fatalf("after 3 successful probes: %+v, want closed", sn)
	}
	for _, l := range ls {
		if _, ok := mustAllow(t, l, st, "", now); !ok {
			t.Fatal("rejected once closed")
		}
	}
}

// TestLocalEvictionFlushes: a keyed Local's table is bounded; a key taking
// another's entry flushes the other's pending successes.
func TestLocalEvictionFlushes(t *testing.T) {
	s := Settings{WindowSize: 100, MinimumCalls: 50, FailureRateThreshold: 0.5}
	st := store.NewMem(0, 1)
	l := worker(s, 2)
	// Two keys of the same entry.
	k1, k2 := "k0", ""
	for i := 1; k2 == ""; i++ {
		if k := fmt.Sprint("k", i); l.entry(k) == l.entry(k1) {
			k2 = k
		}
	}
	for range 5 {
		tok, _ := mustAllow(t, l, st, k1, t0)
		mustReport(t, l, st, k1, tok, t0, Outcome{})
	}
	if l.Pending(k1) != 4 {
		t.Fatalf("pending %d, want 4 (the first success created the record)", l.Pending(k1))
	}
	mustAllow(t, l, st, k2, t0) // takes k1's entry
	if l.Pending(k1) != 0 || inspect(t, l, st, k1, t0).Calls != 5 {
		t.Fatalf("evicted view: pending %d, window %+v; want its 5 successes in the store", l.Pending(k1), inspect(t, l, st, k1, t0))
	}
	// k1's token, admitted before the eviction, is reported at once.
	tok, _ := mustAllow(t, l, st, k1, t0)
	mustAllow(t, l, st, k2, t0)
	mustReport(t, l, st, k1, tok, t0, Outcome{})
	if sn := inspect(t, l, st, k1, t0); sn.Calls != 6 {
		t.Fatalf("window %+v, want 6 calls", sn)
	}
}

// TestSuccessBatchAsOneByOne: k successes added in one record update
// (a Local's flush) leave the same record as k Reports at the same instant,
// including a trip on the success that brings the calls to minimum_calls.
func TestSuccessBatchAsOneByOne(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	for i := range 3000 {
		var s Settings
		n := 1 + rnd.IntN(40)
		if rnd.IntN(2) == 0 {
			s = Settings{WindowSize: n, MinimumCalls: 1 + rnd.IntN(n)}
		} else {
			s = Settings{Window: TimeWindow, WindowDuration: 10 * s1, Buckets: 1 + rnd.IntN(10), MinimumCalls: 1 + rnd.IntN(40)}
		}
		s.FailureRateThreshold = float64(1+rnd.IntN(10)) / 10
		s.OpenDuration = time.Hour
		if rnd.IntN(3) == 0 {
			s.SlowCallDuration = s1
			s.SlowCallRateThreshold = float64(1+rnd.IntN(10)) / 10
		}
		b := New("cb", 1, s)
		if b.Err() != nil {
			continue
		}
		one, batch := store.NewMem(0, 1), store.NewMem(0, 1)
		now := t0
		// A prefix of random outcomes, the same in both stores.
		for j := range rnd.IntN(60) {
			now = t0.Add(time.Duration(j) * 700 * time.Millisecond)
			o := Outcome{Failure: rnd.IntN(2) == 0}
			if rnd.IntN(4) == 0 {
				o.Duration = 2 * s1
			}
			for _, st := range []store.Store{one, batch} {
				tok, ok, _, err := b.Allow(st, "", now)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					if _, err := b.Report(st, "", tok, now, o); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		sn, _ := b.Inspect(one, "", now)
		if sn.State != Closed {
			continue
		}
		k := uint32(1 + rnd.IntN(80))
		var trOne []Transition
		for range k {
			tr, err := b.Report(one, "", Token{Generation: sn.Generation}, now, Outcome{})
			if err != nil {
				t.Fatal(err)
			}
			trOne = append(trOne, tr...)
		}
		trBatch, err := b.record(batch, "", now, false, Token{}, Outcome{}, k, sn.Generation, nil)
		if err != nil {
			t.Fatal(err)
		}
		v1, _, _ := one.Get(b.Table().StoreKey(""))
		v2, _, _ := batch.Get(b.Table().StoreKey(""))
		if !bytes.Equal(v1, v2) || fmt.Sprint(trOne) != fmt.Sprint(trBatch) {
			t.Fatalf("case %d (%+v, %d successes): one by one %x %+v, batch %x %+v", i, s, k, v1, trOne, v2, trBatch)
		}
	}
}
