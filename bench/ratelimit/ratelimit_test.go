// Package ratelimit_test compares Breakwater's patterns/ratelimit with peer
// Go limiters: golang.org/x/time/rate (token bucket: decision for decision,
// and cost) and go.uber.org/ratelimit (a leaky-bucket shaper: cost).
package ratelimit_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	rl "github.com/breakwater/breakwater/patterns/ratelimit"
	"github.com/breakwater/breakwater/patterns/store"
	uber "go.uber.org/ratelimit"
	"golang.org/x/time/rate"
)

var t0 = time.Unix(1_700_000_000, 0)

type call struct {
	at time.Duration // since t0
	n  int64
}

// compare plays calls on a fresh x/time limiter and a fresh token_bucket
// state. It returns how many decisions agreed before the first
// disagreement (all of them when none), and that disagreement's index (-1).
// A disagreement is only allowed to be the documented one: x/time admits a
// request whose wait it computed below 1ns (it truncates), which the exact
// rule rejects with a RetryAfter of exactly 1ns (the deficit rounded up).
func compare(t *testing.T, s rl.Settings, calls []call) (agreed, at int) {
	t.Helper()
	ns, err := s.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	x := rate.NewLimiter(rate.Limit(float64(ns.Requests)/ns.Per.Seconds()), int(ns.Burst))
	var state []byte
	for i, c := range calls {
		now := t0.Add(c.at)
		want := x.AllowN(now, int(c.n))
		d, next := rl.Decide(s, state, now, c.n)
		if d.Allowed != want {
			if want && !d.Allowed && d.RetryAfter == 1 {
				return i, i
			}
			t.Fatalf("%+v call %d (t0+%v, n=%d): breakwater %+v, x/time allowed=%v", s, i, c.at, c.n, d, want)
		}
		if next != nil {
			state = next
		}
	}
	return len(calls), -1
}

// TestTokenBucketMatchesXTime: hand-written tables (exact match), then
// random sequences with fractional emission intervals and nanosecond
// instants (match up to the documented sub-nanosecond truncation of x/time).
func TestTokenBucketMatchesXTime(t *testing.T) {
	tables := []struct {
		s     rl.Settings
		calls []call
	}{
		{rl.Settings{Requests: 10, Per: time.Second, Burst: 5}, []call{
			{0, 1}, {0, 4}, {0, 1}, {50 * time.Millisecond, 1}, {100 * time.Millisecond, 1},
			{350 * time.Millisecond, 2}, {350 * time.Millisecond, 1}, {10 * time.Second, 6}, {10 * time.Second, 5},
			{10*time.Second + 99*time.Millisecond, 1}, {10*time.Second + 100*time.Millisecond, 1},
		}},
		{rl.Settings{Requests: 100, Per: time.Minute}, []call{ // T = 600ms, burst 100
			{0, 100}, {599 * time.Millisecond, 1}, {600 * time.Millisecond, 1}, {time.Second, 1},
			{1200 * time.Millisecond, 1}, {time.Minute, 99}, {time.Minute, 2}, {2 * time.Minute, 101},
		}},
		{rl.Settings{Requests: 4, Per: time.Second, Burst: 1}, []call{ // strict spacing of 250ms
			{0, 1}, {249 * time.Millisecond, 1}, {250 * time.Millisecond, 1}, {500 * time.Millisecond, 1},
			{600 * time.Millisecond, 1}, {750 * time.Millisecond, 1}, {750 * time.Millisecond, 0}, {time.Second, 2},
		}},
	}
	for _, tb := range tables {
		if agreed, at := compare(t, tb.s, tb.calls); at >= 0 {
			t.Fatalf("%+v: disagreement at call %d", tb.s, agreed)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	pers := []time.Duration{time.Second, time.Minute, 7 * time.Millisecond, 999_999_937, 3*time.Second + 1}
	total, truncated, compared := 0, 0, 0
	for seq := 0; seq < 400; seq++ {
		s := rl.Settings{Requests: 1 + rng.Int64N(50), Per: pers[rng.IntN(len(pers))]}
		s.Burst = 1 + rng.Int64N(3*s.Requests)
		T := int64(s.Per) / s.Requests
		var calls []call
		var now int64
		for range 500 {
			switch rng.IntN(4) {
			case 0:
			case 1:
				now += rng.Int64N(T + 1)
			case 2:
				now += rng.Int64N(3*T + 1)
			default:
				now += rng.Int64N(int64(s.Per) + 1)
			}
			n := int64(1)
			if rng.IntN(5) == 0 {
				n = 1 + rng.Int64N(s.Burst+2)
			}
			calls = append(calls, call{time.Duration(now), n})
		}
		agreed, at := compare(t, s, calls)
		total += len(calls)
		compared += agreed
		if at >= 0 {
			truncated++
		}
	}
	t.Logf("%d of %d decisions compared equal; %d of 400 sequences stopped at x/time's sub-ns truncation", compared, total, truncated)
	if compared < total*9/10 {
		t.Fatalf("only %d of %d decisions compared", compared, total)
	}
}

// TestTokenBucketBoundaryXTime probes the knife edge on purpose: after
// each rejection, the next calls come 1ns before and exactly at the instant
// breakwater's RetryAfter names. Every call there is compared with x/time;
// the only disagreements allowed are the documented truncation (x/time
// admits 1ns early when its float wait is under 1ns), and a sequence stops at
// the first one (the two states then differ by that admission).
func TestTokenBucketBoundaryXTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pers := []time.Duration{time.Second, time.Minute, 7 * time.Millisecond, 999_999_937, 3*time.Second + 1}
	probes, early, stopped := 0, 0, 0
	const sequences = 2000
	for seq := 0; seq < sequences; seq++ {
		s := rl.Settings{Requests: 1 + rng.Int64N(50), Per: pers[rng.IntN(len(pers))]}
		s.Burst = 1 + rng.Int64N(3*s.Requests)
		x := rate.NewLimiter(rate.Limit(float64(s.Requests)/s.Per.Seconds()), int(s.Burst))
		var state []byte
		now := t0
		var retry time.Duration
	calls:
		for i := 0; i < 300; i++ {
			var at []time.Time
			if retry > 0 {
				at = []time.Time{now.Add(retry - 1), now.Add(retry)}
				probes++
			} else {
				at = []time.Time{now.Add(time.Duration(rng.Int64N(int64(s.Per) / s.Requests)))}
			}
			for _, a := range at {
				now = a
				want := x.AllowN(now, 1)
				d, next := rl.Decide(s, state, now, 1)
				if d.Allowed != want {
					if want && d.RetryAfter == 1 {
						early++
						stopped++
						break calls
					}
					t.Fatalf("%+v: breakwater %+v, x/time %v", s, d, want)
				}
				if next != nil {
					state = next
				}
				retry = d.RetryAfter
				if d.Allowed {
					break
				}
			}
		}
	}
	t.Logf("%d boundary probes; x/time admitted 1ns early %d times (sequences stopped there: %d of %d)", probes, early, stopped, sequences)
	if probes < 20000 || early == 0 {
		t.Fatalf("%d probes, %d early admissions: the boundary was not exercised", probes, early)
	}
}

const (
	step  = 500 * time.Microsecond // the call pattern: one call every 0.5ms
	perS  = 1000                   // at 1000 per second: half admitted
	burst = 100
)

// BenchmarkTokenBucket: the same calls (one per 0.5ms at 1000/s, burst 100)
// on breakwater's token_bucket (pure decision on an encoded state) and on
// x/time/rate's Limiter.AllowN.
func BenchmarkTokenBucket(b *testing.B) {
	s := rl.Settings{Algorithm: rl.TokenBucket, Requests: perS, Per: time.Second, Burst: burst}
	b.Run("breakwater/AppendDecide", func(b *testing.B) { benchDecide(b, s) })
	b.Run("breakwater/Decide", func(b *testing.B) {
		var state []byte
		now := t0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(step)
			if _, next := rl.Decide(s, state, now, 1); next != nil {
				state = next
			}
		}
	})
	b.Run("xtime/AllowN", func(b *testing.B) {
		x := rate.NewLimiter(perS, burst)
		now := t0
		admitted := 0
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(step)
			if x.AllowN(now, 1) {
				admitted++
			}
		}
		b.ReportMetric(float64(admitted)/float64(b.N), "admitted/op")
	})
}

func benchDecide(b *testing.B, s rl.Settings) {
	var bufA, bufB [64]byte
	state, spare := bufA[:0], bufB[:0]
	now := t0
	admitted := 0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(step)
		d, next := rl.AppendDecide(spare[:0], s, state, now, 1)
		if next != nil {
			state, spare = next, state
		}
		if d.Allowed {
			admitted++
		}
	}
	b.ReportMetric(float64(admitted)/float64(b.N), "admitted/op")
}

// fakeClock is uber's Clock at the benchmark's instant; Sleep returns at once.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time      { return c.now }
func (c *fakeClock) Sleep(time.Duration) {}

// BenchmarkShaper: the same calls on breakwater's gcra and leaky_bucket
// (max_delay 1h: like uber's Take, it never rejects within the run, it
// delays) and on go.uber.org/ratelimit's Take (1000/s, slack 100), whose
// clock returns the same instants and whose Sleep returns at once.
func BenchmarkShaper(b *testing.B) {
	b.Run("breakwater/gcra", func(b *testing.B) {
		benchDecide(b, rl.Settings{Algorithm: rl.GCRA, Requests: perS, Per: time.Second, Burst: burst})
	})
	b.Run("breakwater/leaky_bucket", func(b *testing.B) {
		benchDecide(b, rl.Settings{Algorithm: rl.LeakyBucket, Requests: perS, Per: time.Second, Burst: burst, MaxDelay: time.Hour})
	})
	b.Run("uber/Take", func(b *testing.B) {
		c := &fakeClock{now: t0}
		u := uber.New(perS, uber.WithClock(c), uber.WithSlack(burst))
		b.ReportAllocs()
		for b.Loop() {
			c.now = c.now.Add(step)
			u.Take()
		}
	})
}

// BenchmarkWindows: the window algorithms (no peer in the Go ecosystem
// among the bench module's dependencies), same calls.
func BenchmarkWindows(b *testing.B) {
	for _, a := range []rl.Algorithm{rl.FixedWindow, rl.SlidingWindow} {
		b.Run("breakwater/"+a.String(), func(b *testing.B) {
			benchDecide(b, rl.Settings{Algorithm: a, Requests: perS, Per: time.Second})
		})
	}
}

// BenchmarkKeyed: cost per decision with 10, 10,000 and 100,000 distinct
// keys: breakwater's Limiter over store.Mem (bounded to 10,000 keys, the
// state encoded in shared-data form), against the usual x/time idiom of a
// mutex-guarded map of limiters (unbounded: one limiter per key ever seen).
func BenchmarkKeyed(b *testing.B) {
	s := rl.Settings{Requests: perS, Per: time.Second, Burst: burst}
	for _, distinct := range []int{10, 10_000, 100_000} {
		keys := make([]string, distinct)
		for i := range keys {
			keys[i] = fmt.Sprintf("user-%d", i)
		}
		b.Run(fmt.Sprintf("breakwater/keys=%d", distinct), func(b *testing.B) {
			st := store.NewMem(0, 1)
			l := rl.NewLimiter("bench/rl", rl.DefaultMaxKeys)
			now, i := t0, 0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Microsecond)
				if _, err := l.Allow(st, keys[i], s, now, 1); err != nil {
					b.Fatal(err)
				}
				if i++; i == distinct {
					i = 0
				}
			}
		})
		b.Run(fmt.Sprintf("xtime-map/keys=%d", distinct), func(b *testing.B) {
			var mu sync.Mutex
			m := map[string]*rate.Limiter{}
			now, i := t0, 0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Microsecond)
				mu.Lock()
				x, ok := m[keys[i]]
				if !ok {
					x = rate.NewLimiter(perS, burst)
					m[keys[i]] = x
				}
				mu.Unlock()
				x.AllowN(now, 1)
				if i++; i == distinct {
					i = 0
				}
			}
		})
	}
}
