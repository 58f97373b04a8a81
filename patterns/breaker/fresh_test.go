package breaker

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestFreshCountAsAllowReport checks Fresh and Count against the rules of
// doc.go ("Local views") written out, and the filter's calls (Fresh, then
// Allow when it says false; Count for a success that is not slow, then
// Report when it says false) against Allow and Report alone: over random runs of
// several workers (keyed and not, count and time windows, Enforce and
// Observe, failures, slow calls, releases and ticks), the two stores hold
// the same bytes after every step, and every call returns the same token,
// admission and transitions.
func TestFreshCountAsAllowReport(t *testing.T) {
	shapes := []Settings{
		{WindowSize: 10, MinimumCalls: 4, FailureRateThreshold: 0.5, OpenDuration: 30 * time.Millisecond, HalfOpenCalls: 2},
		{WindowSize: 100, MinimumCalls: 20, FailureRateThreshold: 0.3, ConsecutiveFailures: 3, OpenDuration: 20 * time.Millisecond},
		{Window: TimeWindow, WindowDuration: time.Second, Buckets: 10, MinimumCalls: 5, FailureRateThreshold: 0.5,
			SlowCallDuration: 5 * time.Millisecond, SlowCallRateThreshold: 0.5, OpenDuration: 25 * time.Millisecond},
		{WindowSize: 8, MinimumCalls: 1, FailureRateThreshold: 1, OpenDuration: 15 * time.Millisecond},
		{WindowSize: 20, MinimumCalls: 5, FailureRateThreshold: 0.5, Mode: Observe, OpenDuration: 15 * time.Millisecond},
	}
	rng := rand.New(rand.NewPCG(11, 12))
	var fresh, counted int
	for si, s := range shapes {
		for _, views := range []int{1, 4} {
			for run := 0; run < 20; run++ {
				t.Run(fmt.Sprintf("shape%d/views%d/run%d", si, views, run), func(t *testing.T) {
					f, c := freshCountRun(t, rng, s, views)
					fresh, counted = fresh+f, counted+c
				})
			}
		}
	}
	// Both fast paths were taken (and checked) many times.
	if fresh < 1000 || counted < 500 {
		t.Fatalf("fast paths taken: Fresh %d, Count %d", fresh, counted)
	}
	t.Logf("fast paths taken: Fresh %d, Count %d", fresh, counted)
}

// freshCountRun is one run; it returns how many admissions Fresh made and
// how many successes Count counted.
func freshCountRun(t *testing.T, rng *rand.Rand, s Settings, views int) (fresh, counted int) {
	const workers = 3
	stA, stB := store.NewMem(0, 1), store.NewMem(0, 1)
	var a, b [workers]*Local // a: Fresh and Count first; b: Allow and Report only
	for w := range workers {
		a[w], b[w] = worker(s, views), worker(s, views)
	}
	keys := []string{""}
	if views > 1 {
		keys = []string{"k1", "k2", "k3", "k4", "k5"}
	}
	type held struct {
		w   int
		key string
		tok Token
	}
	var inflight []held
	now := time.Unix(1000, 0)
	for step := range 400 {
		now = now.Add(time.Duration(rng.IntN(3000)) * time.Microsecond)
		w := rng.IntN(workers)
		switch op := rng.IntN(10); {
		case op < 5: // a request
			key := keys[rng.IntN(len(keys))]
			want := freshRule(a[w], key, now)
			ta, oka := a[w].Fresh(key, now.UnixNano())
			if oka != want {
				t.Fatalf("step %d: Fresh %q admitted %v, the rule says %v", step, key, oka, want)
			}
			var tra []Transition
			if oka {
				fresh++
			} else {
				var err error
				ta, oka, tra, err = a[w].Allow(stA, key, now)
				if err != nil {
					t.Fatal(err)
				}
			}
			tb, okb, trb, err := b[w].Allow(stB, key, now)
			if err != nil {
				t.Fatal(err)
			}
			if ta != tb || oka != okb || !sameTransitions(tra, trb) {
				t.Fatalf("step %d: allow %q: fresh-first %+v %v %+v, allow %+v %v %+v", step, key, ta, oka, tra, tb, okb, trb)
			}
			if oka {
				inflight = append(inflight, held{w, key, ta})
			}
		case op < 9 && len(inflight) > 0: // an outcome (or a release)
			i := rng.IntN(len(inflight))
			h := inflight[i]
			inflight = append(inflight[:i], inflight[i+1:]...)
			if rng.IntN(8) == 0 {
				if err := a[h.w].Release(stA, h.key, h.tok, now); err != nil {
					t.Fatal(err)
				}
				if err := b[h.w].Release(stB, h.key, h.tok, now); err != nil {
					t.Fatal(err)
				}
				break
			}
			o := Outcome{Failure: rng.IntN(10) == 0, Duration: time.Duration(rng.IntN(8)) * time.Millisecond}
			var tra []Transition
			want := !o.Failure && !a[h.w].b.slow(o) && countRule(a[h.w], h.key, h.tok)
			if got := !o.Failure && !a[h.w].b.slow(o) && a[h.w].Count(h.key, h.tok); got != want {
				t.Fatalf("step %d: Count %q %+v: %v, the rule says %v", step, h.key, h.tok, got, want)
			} else if got {
				counted++
			} else {
				var err error
				if tra, err = a[h.w].Report(stA, h.key, h.tok, now, o); err != nil {
					t.Fatal(err)
				}
			}
			trb, err := b[h.w].Report(stB, h.key, h.tok, now, o)
			if err != nil {
				t.Fatal(err)
			}
			if !sameTransitions(tra, trb) {
				t.Fatalf("step %d: report %+v: count-first %+v, report %+v", step, o, tra, trb)
			}
		default:
			if err := a[w].Tick(stA, now, nil); err != nil {
				t.Fatal(err)
			}
			if err := b[w].Tick(stB, now, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, key := range keys {
			if pa, pb := a[w].Pending(key), b[w].Pending(key); pa != pb {
				t.Fatalf("step %d: pending %q: %d against %d", step, key, pa, pb)
			}
		}
		if !sameStores(stA, stB, a[0].Breaker().Table(), keys) {
			t.Fatalf("step %d: the stores differ", step)
		}
	}
	return fresh, counted
}

// freshRule is doc.go's rule for a local admission of key at now, written
// out: the key's view is closed and clean (local), read or written by this
// worker less than a period before now, and the mode records.
func freshRule(l *Local, key string, now time.Time) bool {
	if l.b.s.Mode == Disabled || l.b.s.Mode == ForcedOpen {
		return false
	}
	v := &l.views[l.entry(key)]
	d := now.UnixNano() - v.at
	return v.held && string(v.key) == key && v.local && d >= 0 && d < int64(tickP)
}

// countRule is doc.go's rule for a success (not slow) counted locally,
// written out: a token of the view's closed generation, not a probe nor a
// would-be rejection, a record in the store, and a view that is clean or
// whose calls and pending successes reach minimum_calls.
func countRule(l *Local, key string, tok Token) bool {
	if l.b.s.Mode >= ForcedOpen || tok.Generation == 0 || tok.WouldReject || tok.Probe {
		return false
	}
	v := &l.views[l.entry(key)]
	return v.held && string(v.key) == key && v.closed && v.gen == tok.Generation && v.stored &&
		(v.clean || v.calls+int(v.pending) >= l.b.s.MinimumCalls)
}

// sameStores says whether a and b hold the same bytes (or both nothing)
// under every store key of keys in tab, and under its overflow key.
func sameStores(a, b store.Store, tab store.Table, keys []string) bool {
	sks := []string{tab.OverflowKey()}
	for _, k := range keys {
		sks = append(sks, tab.StoreKey(k))
	}
	for _, k := range sks {
		va, _, erra := a.Get(k)
		vb, _, errb := b.Get(k)
		if (erra == nil) != (errb == nil) || !bytes.Equal(va, vb) {
			return false
		}
	}
	return true
}
