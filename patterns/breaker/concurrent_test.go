package breaker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

const workers = 8

// retry repeats op while the store reports ErrContended (nothing was
// written then, so delivering the same call again is what a caller may do).
func retry(t *testing.T, op func() error) {
	t.Helper()
	for range 1000 {
		err := op()
		if err == nil {
			return
		}
		if !errors.Is(err, store.ErrContended) {
			t.Error(err)
			return
		}
	}
	t.Error("contended 1000 times in a row")
}

// parallel runs fn on every worker (each with its own Breaker, as each
// Envoy worker VM has) and waits.
func parallel(n int, fn func(w int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(w)
		}()
	}
	close(start)
	wg.Wait()
}

// TestConcurrentWorkers runs rounds of trip / half-open race / probe outcomes
// / a burst of successes with 8 workers on one store with injected CAS
// conflicts, and checks that each trip and each transition is returned
// exactly once, that half-open admits exactly half_open_calls probes in total,
// and that no outcome is lost (the window holds exactly the outcomes
// reported in its generation).
func TestConcurrentWorkers(t *testing.T) {
	s := Settings{WindowSize: 4000, MinimumCalls: 4000, ConsecutiveFailures: 3, OpenDuration: 10 * s1, HalfOpenCalls: 5}
	st := store.NewMem(0.2, 99)
	bs := make([]*Breaker, workers)
	for i := range bs {
		bs[i] = New("cb", 16, s)
	}
	const key = "orders"
	// The first write of a table set is unconditional (see patterns/store):
	// create the record before the race.
	retry(t, func() error {
		tok, _, _, err := bs[0].Allow(st, key, t0)
		if err != nil {
			return err
		}
		_, err = bs[0].Report(st, key, tok, t0, Outcome{})
		return err
	})
	var mu sync.Mutex
	var all []Transition
	collect := func(tr []Transition) {
		mu.Lock()
		all = append(all, tr...)
		mu.Unlock()
	}
	count := func(from, to State) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, tr := range all {
			if tr.From == from && tr.To == to {
				n++
			}
		}
		return n
	}
	snap := func(now time.Time) Snapshot {
		sn, err := bs[0].Inspect(st, key, now)
		if err != nil {
			t.Fatal(err)
		}
		return sn
	}

	// probeRace makes every worker ask 40 times at now; it returns the probes.
	probeRace := func(now time.Time) []Token {
		var probes []Token
		parallel(workers, func(w int) {
			for range 40 {
				var tok Token
				var ok bool
				retry(t, func() (err error) {
					var tr []Transition
					tok, ok, tr, err = bs[w].Allow(st, key, now)
					collect(tr)
					return err
				})
				if ok {
					if !tok.Probe {
						t.Errorf("admitted a non-probe in half-open: %+v", tok)
					}
					mu.Lock()
					probes = append(probes, tok)
					mu.Unlock()
				}
			}
		})
		return probes
	}
	// settle reports every probe from a worker of its own; failAt >= 0 makes
	// that probe fail.
	settle := func(now time.Time, probes []Token, failAt int) {
		parallel(len(probes), func(i int) {
			retry(t, func() error {
				tr, err := bs[i%workers].Report(st, key, probes[i], now, Outcome{Failure: i == failAt})
				collect(tr)
				return err
			})
		})
	}

	now := t0
	for round := range 12 {
		// A: every worker reports failures; the 3rd failure in a row trips,
		// once; outcomes after it are stale.
		before := snap(now)
		var tripCalls []int
		parallel(workers, func(w int) {
			for range 5 {
				retry(t, func() error {
					tok, ok, _, err := bs[w].Allow(st, key, now)
					if err != nil || !ok {
						return err
					}
					tr, err := bs[w].Report(st, key, tok, now, Outcome{Failure: true})
					collect(tr)
					for _, x := range tr {
						mu.Lock()
						tripCalls = append(tripCalls, x.Calls)
						mu.Unlock()
					}
					return err
				})
			}
		})
		if len(tripCalls) != 1 || tripCalls[0] != before.Calls+3 {
			t.Fatalf("round %d: trips %v, want exactly one with %d calls", round, tripCalls, before.Calls+3)
		}
		if sn := snap(now); sn.State != Open || sn.Trip != 1 {
			t.Fatalf("round %d: after the trip %s", round, snapString(sn))
		}

		// B, C: half-open race, then the probes' outcomes; odd rounds fail
		// one probe first and race again.
		now = now.Add(10 * s1)
		probes := probeRace(now)
		if len(probes) != s.HalfOpenCalls {
			t.Fatalf("round %d: %d probes admitted, want exactly %d", round, len(probes), s.HalfOpenCalls)
		}
		if round%2 == 1 {
			settle(now, probes, 2)
			if sn := snap(now); sn.State != Open || sn.Trip != 2 {
				t.Fatalf("round %d: after a failed probe %s", round, snapString(sn))
			}
			now = now.Add(10 * s1)
			probes = probeRace(now)
			if len(probes) != s.HalfOpenCalls {
				t.Fatalf("round %d: %d probes admitted again, want exactly %d", round, len(probes), s.HalfOpenCalls)
			}
		}
		settle(now, probes, -1)
		if sn := snap(now); sn.State != Closed || sn.Trip != 0 || sn.Calls != 0 {
			t.Fatalf("round %d: after the probes %s", round, snapString(sn))
		}

		// E: a burst of successes; none may be lost.
		var reported atomic.Int64
		parallel(workers, func(w int) {
			for i := range 200 {
				at := now.Add(time.Duration(i) * ms)
				retry(t, func() error {
					tok, ok, _, err := bs[w].Allow(st, key, at)
					if err != nil || !ok {
						return err
					}
					tr, err := bs[w].Report(st, key, tok, at, Outcome{})
					collect(tr)
					if err == nil {
						reported.Add(1)
					}
					return err
				})
			}
		})
		if sn := snap(now); int64(sn.Calls) != reported.Load() || sn.Calls != workers*200 {
			t.Fatalf("round %d: window holds %d calls, %d reported", round, sn.Calls, reported.Load())
		}
		now = now.Add(time.Minute)
	}
	rounds, odd := 12, 6
	if got := count(Closed, Open); got != rounds {
		t.Errorf("closed>open %d, want %d", got, rounds)
	}
	if got := count(Open, HalfOpen); got != rounds+odd {
		t.Errorf("open>half_open %d, want %d", got, rounds+odd)
	}
	if got := count(HalfOpen, Open); got != odd {
		t.Errorf("half_open>open %d, want %d", got, odd)
	}
	if got := count(HalfOpen, Closed); got != rounds {
		t.Errorf("half_open>closed %d, want %d", got, rounds)
	}
	if len(all) != 3*rounds+2*odd {
		t.Errorf("%d transitions in all", len(all))
	}
	if st.Conflicts == 0 {
		t.Error("no CAS conflict happened: the test did not exercise the retry path")
	}
}

// TestConcurrentRandomGenerationChain lets 8 workers hammer one key with
// random outcomes on a shared, advancing clock. Every generation change must
// be returned to exactly one caller: sorted by generation, the transitions
// form one unbroken chain; a half-open generation that closed admitted
// exactly half_open_calls probes, one that reopened at most that many.
func TestConcurrentRandomGenerationChain(t *testing.T) {
	s := Settings{WindowSize: 20, MinimumCalls: 10, FailureRateThreshold: 0.5, ConsecutiveFailures: 4,
		SlowCallDuration: 50 * ms, OpenDuration: 50 * ms, OpenBackoff: 1.5, MaxOpenDuration: 200 * ms, HalfOpenCalls: 3}
	st := store.NewMem(0.2, 5)
	b0 := New("cb", 1, s)
	tok, _, _, _ := b0.Allow(st, "", t0)
	b0.Report(st, "", tok, t0, Outcome{}) // create the record before the race
	var clock atomic.Int64
	var mu sync.Mutex
	var all []Transition
	probes := map[uint32]int{}
	parallel(workers, func(w int) {
		b := New("cb", 1, s)
		r := rand.New(rand.NewPCG(uint64(w), 3))
		for range 3000 {
			now := t0.Add(time.Duration(clock.Add(int64(ms))))
			var tok Token
			var ok bool
			var tr []Transition
			retry(t, func() (err error) {
				tok, ok, tr, err = b.Allow(st, "", now)
				return err
			})
			mu.Lock()
			all = append(all, tr...)
			if ok && tok.Probe {
				probes[tok.Generation]++
			}
			mu.Unlock()
			if !ok {
				continue
			}
			o := Outcome{Failure: r.IntN(100) < 30, Duration: time.Duration(r.IntN(55)) * ms}
			retry(t, func() (err error) {
				tr, err = b.Report(st, "", tok, now.Add(time.Duration(r.IntN(3))*ms), o)
				return err
			})
			mu.Lock()
			all = append(all, tr...)
			mu.Unlock()
		}
	})
	sort.Slice(all, func(i, j int) bool { return all[i].Generation < all[j].Generation })
	if len(all) < 20 {
		t.Fatalf("only %d transitions", len(all))
	}
	prev := Closed
	for i, tr := range all {
		if tr.Generation != uint32(i+2) || tr.From != prev {
			t.Fatalf("transition %d: %s after %v (generations must run 2, 3, ... once each)", i, trString(tr), prev)
		}
		prev = tr.To
		if tr.From == HalfOpen {
			n := probes[tr.Generation-1]
			if (tr.To == Closed && n != s.HalfOpenCalls) || n > s.HalfOpenCalls {
				t.Fatalf("%s: generation %d admitted %d probes", trString(tr), tr.Generation-1, n)
			}
		}
	}
	sn, _ := b0.Inspect(st, "", t0)
	if sn.Generation != all[len(all)-1].Generation || sn.State != prev {
		t.Fatalf("final %s, last transition %s", snapString(sn), trString(all[len(all)-1]))
	}
	t.Logf("%d transitions, %d probes, %d store sets, %d conflicts", len(all), len(probes), st.Sets, st.Conflicts)
	kinds := map[string]int{}
	for _, tr := range all {
		kinds[fmt.Sprintf("%v>%v", tr.From, tr.To)]++
	}
	for _, k := range []string{"closed>open", "open>half_open", "half_open>open", "half_open>closed"} {
		if kinds[k] == 0 {
			t.Errorf("no %s transition in %v", k, kinds)
		}
	}
}
