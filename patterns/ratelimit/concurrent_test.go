package ratelimit

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

const workers = 8

func concurrentSettings(alg Algorithm) Settings {
	s := Settings{Algorithm: alg, Requests: 20, Per: time.Second}
	switch alg {
	case TokenBucket, GCRA:
		s.Burst = 10
	case LeakyBucket:
		s.Burst = 5
		s.MaxDelay = 200 * ms
	}
	return s
}

type outcome struct {
	key   string
	at    int64 // the shared fake clock read by the worker, ns since t0
	d     Decision
	err   error
	after int64 // the clock right after the decision returned
}

// TestConcurrentExact: 8 workers share one store with injected CAS
// conflicts and a fake clock that the test advances between phases. In each
// phase every worker decides at the same instant; the number admitted per
// key (and for leaky_bucket, the delays given) must be exactly what the
// serial reference model admits for that many requests at that instant: no
// lost update, no over-admission. Then the rule's bound is checked on the
// whole history.
func TestConcurrentExact(t *testing.T) {
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		t.Run(alg.String(), func(t *testing.T) {
			s := concurrentSettings(alg)
			st := store.NewMem(0.2, uint64(alg)+11)
			lim := NewLimiter("conc/"+alg.String(), 64)
			keys := []string{"alice", "bob", "carol"}
			refs := map[string]model{}
			var history []outcome
			// Create each key's set serially first: two workers creating the
			// same store key at once may both write (store doc).
			for _, k := range keys {
				refs[k] = newModel(s)
				d, err := lim.Allow(st, k, s, t0, 1)
				if want := refs[k].decide(0, 1); err != nil || d != want {
					t.Fatalf("%s: %+v %v, want %+v", k, d, err, want)
				}
				history = append(history, outcome{key: k, d: d})
			}
			var clock atomic.Int64
			rng := rand.New(rand.NewPCG(uint64(alg), 99))
			contended := 0
			for phase := 0; phase < 120; phase++ {
				switch rng.IntN(4) {
				case 0: // same instant again
				case 1:
					clock.Add(rng.Int64N(int64(50 * ms)))
				case 2:
					clock.Add(rng.Int64N(int64(time.Second)))
				default: // to the next window boundary exactly
					c := clock.Load()
					clock.Store((c/int64(s.Per) + 1) * int64(s.Per))
				}
				out := make([][]outcome, workers)
				var wg sync.WaitGroup
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range 6 {
							k := keys[(w+i+phase)%len(keys)]
							now := clock.Load()
							d, err := lim.Allow(st, k, s, t0.Add(time.Duration(now)), 1)
							out[w] = append(out[w], outcome{key: k, at: now, d: d, err: err})
						}
					}()
				}
				wg.Wait()
				now := clock.Load()
				for _, k := range keys {
					decided, admitted := 0, 0
					var delays []time.Duration
					for _, o := range slices.Concat(out...) {
						if o.key != k {
							continue
						}
						if o.err != nil {
							if !errors.Is(o.err, store.ErrContended) {
								t.Fatal(o.err)
							}
							contended++
							continue
						}
						decided++
						if o.d.Allowed {
							admitted++
							delays = append(delays, o.d.Delay)
							history = append(history, o)
						}
					}
					want := 0
					var wantDelays []time.Duration
					for range decided {
						if d := refs[k].decide(now, 1); d.Allowed {
							want++
							wantDelays = append(wantDelays, d.Delay)
						}
					}
					slices.Sort(delays)
					if admitted != want || !slices.Equal(delays, wantDelays) {
						t.Fatalf("phase %d key %s at t0+%v: %d of %d admitted (delays %v), serial rule admits %d (%v)", phase, k, time.Duration(now), admitted, decided, delays, want, wantDelays)
					}
				}
			}
			if st.Conflicts == 0 {
				t.Fatal("no CAS conflict happened")
			}
			checkHistory(t, s, keys, history)
			t.Logf("%d admissions, %d conflicts, %d calls contended out", len(history), st.Conflicts, contended)
		})
	}
}

// TestConcurrentFreeClock: the same workers, but the fake clock moves while
// they decide (each worker advances it after each call), so decisions are
// taken on clock reads that other workers have already overtaken. The
// number admitted must stay within the rule's bound over the whole run.
func TestConcurrentFreeClock(t *testing.T) {
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		t.Run(alg.String(), func(t *testing.T) {
			s := concurrentSettings(alg)
			st := store.NewMem(0.2, uint64(alg)+21)
			lim := NewLimiter("free/"+alg.String(), 64)
			keys := []string{"alice", "bob"}
			// Create the sets serially first (see TestConcurrentExact).
			var history []outcome
			for _, k := range keys {
				d, err := lim.Allow(st, k, s, t0, 1)
				if err != nil || !d.Allowed {
					t.Fatal(d, err)
				}
				history = append(history, outcome{key: k, d: d})
			}
			var clock atomic.Int64
			out := make([][]outcome, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), uint64(alg)))
					for i := range 1500 {
						k := keys[(w+i)%len(keys)]
						now := clock.Load()
						d, err := lim.Allow(st, k, s, t0.Add(time.Duration(now)), 1)
						out[w] = append(out[w], outcome{key: k, at: now, d: d, err: err, after: clock.Load()})
						clock.Add(rng.Int64N(int64(4 * ms)))
					}
				}()
			}
			wg.Wait()
			for _, o := range slices.Concat(out...) {
				if o.err != nil && !errors.Is(o.err, store.ErrContended) {
					t.Fatal(o.err)
				}
				if o.err == nil && o.d.Allowed {
					history = append(history, o)
				}
			}
			end := clock.Load()
			n, _ := s.Normalize()
			for _, k := range keys {
				var admitted int64
				for _, o := range history {
					if o.key == k {
						admitted++
					}
				}
				// Bounds over [0, end] for one key.
				var bound int64
				p, r := int64(n.Per), n.Requests
				switch alg {
				case TokenBucket, GCRA:
					bound = n.Burst + end*r/p
				case LeakyBucket:
					bound = n.Burst + (end+int64(n.MaxDelay))*r/p
				case FixedWindow:
					first, last := t0.UnixNano()/p, (t0.UnixNano()+end)/p
					bound = r * (last - first + 1)
				case SlidingWindow:
					bound = r * (end/p + 1)
				}
				if admitted > bound {
					t.Fatalf("%s: %d admitted over %v, bound %d", k, admitted, time.Duration(end), bound)
				}
				if admitted < bound/2 {
					t.Fatalf("%s: only %d admitted over %v (bound %d): the run did not saturate the limit", k, admitted, time.Duration(end), bound)
				}
				t.Logf("%s: %d admitted over %v, bound %d", k, admitted, time.Duration(end), bound)
			}
		})
	}
}

// checkHistory asserts each rule's bound on admissions recorded at their
// (monotone) instants.
func checkHistory(t *testing.T, s Settings, keys []string, history []outcome) {
	t.Helper()
	n, _ := s.Normalize()
	p, r := int64(n.Per), n.Requests
	for _, k := range keys {
		var ats []int64
		var deps []int64
		for _, o := range history {
			if o.key == k {
				ats = append(ats, o.at)
				deps = append(deps, (o.at+int64(o.d.Delay))*r)
			}
		}
		switch s.Algorithm {
		case TokenBucket, GCRA:
			// Any [ats[i], ats[j]]: at most B + (ats[j]-ats[i])×R/P.
			for i := range ats {
				for j := i; j < len(ats); j++ {
					if (int64(j-i+1)-n.Burst)*p > (ats[j]-ats[i])*r {
						t.Fatalf("%s: %d admitted in [%d, %d]", k, j-i+1, ats[i], ats[j])
					}
				}
			}
		case FixedWindow:
			per := map[int64]int64{}
			for _, a := range ats {
				per[(t0.UnixNano()+a)/p]++
			}
			for w, c := range per {
				if c > r {
					t.Fatalf("%s: %d admitted in window %d", k, c, w)
				}
			}
		case SlidingWindow:
			var log []admission
			for _, a := range ats {
				log = append(log, admission{a, 1})
			}
			checkWindows(t, s, log)
		case LeakyBucket:
			// Departures (rounded up to the ns by Delay): spacing within 1ns.
			slices.Sort(deps)
			for i := range deps {
				for j := i; j < len(deps); j++ {
					if (int64(j-i+1)-n.Burst)*p > deps[j]-deps[i]+r {
						t.Fatalf("%s: %d departures in [%d, %d]/R", k, j-i+1, deps[i], deps[j])
					}
				}
			}
		}
	}
}
