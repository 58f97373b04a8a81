package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

func benchSettings(alg Algorithm) Settings {
	s := Settings{Algorithm: alg, Requests: 1000, Per: time.Second}
	switch alg {
	case TokenBucket, GCRA:
		s.Burst = 100
	case LeakyBucket:
		s.Burst = 100
		s.MaxDelay = 50 * ms
	}
	return s
}

// BenchmarkDecide: one decision per op on one key's state, the clock
// advancing 0.5ms per call at 1000 per second (about half admitted once the
// burst is spent). AppendDecide reuses two buffers (0 allocs); Decide
// allocates the next state when it writes one.
func BenchmarkDecide(b *testing.B) {
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		s := benchSettings(alg)
		b.Run(alg.String()+"/AppendDecide", func(b *testing.B) {
			var bufA, bufB [64]byte
			state, spare := bufA[:0], bufB[:0]
			now := t0
			admitted := 0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(500 * time.Microsecond)
				d, next := AppendDecide(spare[:0], s, state, now, 1)
				if next != nil {
					state, spare = next, state
				}
				if d.Allowed {
					admitted++
				}
			}
			b.ReportMetric(float64(admitted)/float64(b.N), "admitted/op")
		})
		b.Run(alg.String()+"/Decide", func(b *testing.B) {
			var state []byte
			now := t0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(500 * time.Microsecond)
				if _, next := Decide(s, state, now, 1); next != nil {
					state = next
				}
			}
		})
	}
}

// BenchmarkLimiterAllow: Limiter.Allow over store.Mem (max_keys 10000) with
// 10, 10,000 and 100,000 distinct keys in turn: the cost should not grow with
// the number of keys (a store key holds at most 4 entries).
func BenchmarkLimiterAllow(b *testing.B) {
	for _, alg := range []Algorithm{TokenBucket, SlidingWindow} {
		s := benchSettings(alg)
		for _, distinct := range []int{10, 10_000, 100_000} {
			keys := make([]string, distinct)
			for i := range keys {
				keys[i] = fmt.Sprintf("user-%d", i)
			}
			b.Run(fmt.Sprintf("%v/keys=%d", alg, distinct), func(b *testing.B) {
				st := store.NewMem(0, 1)
				l := NewLimiter("bench/rl/user", DefaultMaxKeys)
				now := t0
				i := 0
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
				b.ReportMetric(float64(st.Len()), "storekeys")
			})
		}
	}
}

// BenchmarkAllowAll3: a request through three limits (per-user token
// bucket, per-endpoint sliding window, global fixed window), all admitted.
func BenchmarkAllowAll3(b *testing.B) {
	st := store.NewMem(0, 1)
	u, p, g := NewLimiter("b/u", 0), NewLimiter("b/p", 0), NewLimiter("b/g", 1)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	su := Settings{Requests: 100, Per: time.Second}
	sp := Settings{Algorithm: SlidingWindow, Requests: 1_000_000, Per: time.Second}
	sg := Settings{Algorithm: FixedWindow, Requests: 1_000_000_000, Per: time.Second}
	checks := make([]Check, 3)
	now := t0
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		checks[0] = Check{u, keys[i%len(keys)], su}
		checks[1] = Check{p, "/orders", sp}
		checks[2] = Check{g, "", sg}
		if _, err := AllowAll(st, now, 1, checks); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
