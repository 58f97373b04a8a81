package ratelimit

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

var leaseAlgs = []Algorithm{TokenBucket, GCRA, FixedWindow, SlidingWindow}

// leaseSettings: a capacity of r; the buckets refill one request per second
// (so a lease lifetime of 1 s refills exactly one), the windows last an hour
// (a lease ends by its lifetime, well inside its window).
func leaseSettings(alg Algorithm, r int64) Settings {
	s := Settings{Algorithm: alg, Requests: r, Per: time.Duration(r) * time.Second}
	if alg == FixedWindow || alg == SlidingWindow {
		s.Per = time.Hour
	}
	return s
}

// storeBytes is every value of st, sorted by key.
func storeBytes(st *store.Mem) [][]byte {
	var out [][]byte
	keys := st.Keys()
	slices.Sort(keys)
	for _, k := range keys {
		v, _, _ := st.Get(k)
		out = append(out, append([]byte(k+"="), v...))
	}
	return out
}

// TestLeaseSmallLimitsExact: a limit whose capacity is below
// 2×LeaseDivisor (511 and less) never leases: a Limiter with leases decides
// exactly as one without, Decision for Decision (the RateLimit values
// included), store byte for byte, refunds included, on every leasable
// algorithm, alone and under a multi-level request. leaky_bucket never
// leases whatever its capacity.
func TestLeaseSmallLimitsExact(t *testing.T) {
	for _, alg := range append(slices.Clone(leaseAlgs), LeakyBucket) {
		for _, r := range []int64{5, 50, 255, 511, 100000} {
			if r == 100000 && alg != LeakyBucket {
				continue
			}
			s := Settings{Algorithm: alg, Requests: r, Per: time.Second}
			if alg == LeakyBucket {
				s.MaxDelay = 50 * ms
			}
			other := Settings{Requests: min(r, 2*LeaseDivisor-1), Per: 2 * time.Second}
			mk := func(leases bool) []Check {
				a, b := NewLimiter("a", 8), NewLimiter("b", 8)
				if leases {
					a.SetLeases(16)
					b.SetLeases(16)
				}
				return []Check{{a, "k", s}, {b, "k", other}}
			}
			ca, cb := mk(true), mk(false)
			sta, stb := store.NewMem(0, 1), store.NewMem(0, 1)
			rng := rand.New(rand.NewPCG(uint64(r), uint64(alg)))
			now := t0
			for i := range 3000 {
				now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Second / time.Duration(r)))))
				k := 1 + rng.IntN(2)
				ra, ea := AllowAll(sta, now, 1, ca[:k])
				rb, eb := AllowAll(stb, now, 1, cb[:k])
				if ea != nil || eb != nil || ra.Allowed != rb.Allowed || ra.Deciding != rb.Deciding || !slices.Equal(ra.Decisions, rb.Decisions) {
					t.Fatalf("%s %d #%d: leases %+v %v, none %+v %v", alg, r, i, ra, ea, rb, eb)
				}
				if ra.Allowed && rng.IntN(8) == 0 {
					for j := range k {
						if err := ca[j].Limiter.RefundOne(sta, ca[j].Key, ca[j].Settings, now, now); err != nil {
							t.Fatal(err)
						}
						if err := cb[j].Limiter.Refund(stb, cb[j].Key, cb[j].Settings, now, 1); err != nil {
							t.Fatal(err)
						}
					}
				}
				if i%500 == 0 {
					ca[0].Limiter.ExpireLeases(sta, now)
				}
			}
			if ga, gb := storeBytes(sta), storeBytes(stb); !slices.EqualFunc(ga, gb, bytes.Equal) {
				t.Fatalf("%s %d: stores differ:\n%q\n%q", alg, r, ga, gb)
			}
			if ca[0].Limiter.Leases().Live() != 0 {
				t.Fatalf("%s %d: %d leases", alg, r, ca[0].Limiter.Leases().Live())
			}
		}
	}
}

// leaseWorker is one simulated worker: its own Limiter (with leases) on
// the shared store.
type leaseWorker struct {
	lim      *Limiter
	admitted int
}

func newLeaseWorkers(n int, prefix string) []*leaseWorker {
	ws := make([]*leaseWorker, n)
	for i := range ws {
		lim := NewLimiter(prefix, 64)
		lim.SetLeases(256)
		ws[i] = &leaseWorker{lim: lim}
	}
	return ws
}

// drain makes requests of key at now until reject rejections in a row (a
// contended store retries); it returns what it admitted.
func (w *leaseWorker) drain(t *testing.T, st store.Store, key string, s Settings, now time.Time, reject int) int {
	admitted, no := 0, 0
	for no < reject {
		res, err := AllowAll(st, now, 1, []Check{{w.lim, key, s}})
		if errors.Is(err, store.ErrContended) {
			continue
		}
		if err != nil {
			t.Error(err)
			return admitted
		}
		d := res.Decisions[0]
		if d.Remaining < 0 || d.Remaining > d.Limit {
			t.Errorf("Remaining %d, Limit %d", d.Remaining, d.Limit)
		}
		if res.Allowed {
			admitted++
			no = 0
		} else {
			no++
		}
	}
	w.admitted += admitted
	return admitted
}

// TestLeaseConcurrentBound: 6 workers with leases share one store with
// injected CAS conflicts, on one key of a limit of 10,000, for every
// leasable algorithm, at the bound the leases allow.
//
//  1. At one instant every worker requests until refused: together they
//     admit exactly 10,000 (a worker is refused only once its lease is
//     used up and the store has nothing left), with far fewer store
//     operations than requests (without leases: 2 per request), though
//     draining a limit to 0 at once is the worst case: the leases shrink
//     with what is left, to one request below 512.
//  2. Next, every worker takes a lease (two requests each: a key's first
//     request takes one, the next one a lease), then only
//     worker 0 requests until refused: it gets less than what is left, the
//     others' leases hold the rest (at most remaining/256 each). Held, plus
//     what everyone admitted, is exactly the limit: never over.
//  3. After the lease lifetime (1 s) every worker's ExpireLeases gives its
//     unused part back, and worker 0 alone reaches the limit exactly (plus
//     the one request the buckets refill in that second).
func TestLeaseConcurrentBound(t *testing.T) {
	const limit, workers = 10_000, 6
	for _, alg := range leaseAlgs {
		t.Run(alg.String(), func(t *testing.T) {
			s := leaseSettings(alg, limit)
			st := store.NewMem(0.2, uint64(alg)+7)
			ws := newLeaseWorkers(workers, "lease/"+alg.String())
			// Create the key's set serially first (as the other concurrent tests).
			if ws[0].drain(t, st, "k", s, t0, 0); st.Len() != 0 {
				t.Fatal("drain(0) wrote")
			}
			var total atomic.Int64
			var wg sync.WaitGroup
			for _, w := range ws {
				wg.Add(1)
				go func() {
					defer wg.Done()
					total.Add(int64(w.drain(t, st, "k", s, t0, 5)))
				}()
			}
			wg.Wait()
			ops := st.Gets + st.Sets
			if total.Load() != limit {
				t.Fatalf("phase 1: admitted %d, want exactly %d", total.Load(), limit)
			}
			// Each failed CAS costs one more get and set; how many fail
			// depends on how the goroutines interleave (here 500 to 1,300),
			// so the bound is on the operations of the attempts that
			// succeeded (ops itself passed limit/2 in about one run in four).
			if ops-2*st.Conflicts > limit/2 {
				t.Errorf("phase 1: %d store operations (%d conflicts) for %d admissions", ops, st.Conflicts, limit)
			}
			t.Logf("phase 1: %d admitted, %d store operations (%d conflicts)", limit, ops, st.Conflicts)

			// Phase 2: a fresh key, partly leased by everyone.
			now := t0.Add(10 * time.Millisecond)
			got := 0
			for range 2 {
				for _, w := range ws {
					res, err := AllowAll(st, now, 1, []Check{{w.lim, "j", s}})
					for errors.Is(err, store.ErrContended) {
						res, err = AllowAll(st, now, 1, []Check{{w.lim, "j", s}})
					}
					if err != nil || !res.Allowed {
						t.Fatalf("first requests: %+v %v", res, err)
					}
					got++
				}
			}
			got += ws[0].drain(t, st, "j", s, now, 3)
			var held int64
			for _, w := range ws[1:] {
				h := w.lim.Leases().Held()
				if h <= 0 || h > limit/LeaseDivisor {
					t.Errorf("phase 2: a worker holds %d (bound %d)", h, limit/LeaseDivisor)
				}
				held += h
			}
			if int64(got)+held != limit {
				t.Fatalf("phase 2: admitted %d + held %d != %d", got, held, limit)
			}
			t.Logf("phase 2: worker 0 refused after %d admitted in all; the others hold %d", got, held)

			// Phase 3: the leases end after their lifetime; given back, the
			// rest is reachable by worker 0 alone.
			now = now.Add(LeaseLifetime)
			for _, w := range ws {
				w.lim.ExpireLeases(st, now)
				if w.lim.Leases().Held() != 0 {
					t.Fatalf("phase 3: %d held after expiry", w.lim.Leases().Held())
				}
			}
			want := int64(limit)
			if alg == TokenBucket || alg == GCRA {
				want++ // refilled in that second
			}
			got += ws[0].drain(t, st, "j", s, now, 3)
			if int64(got) != want {
				t.Fatalf("phase 3: admitted %d in all, want %d", got, want)
			}
		})
	}
}

// TestLeaseAllOrNothing: a request refused by a later limit takes nothing
// from an earlier one's lease or store state, and a request admitted from
// leases and then given back (RefundOne: a later stage rejected it) returns
// to the leases, not to the store.
func TestLeaseAllOrNothing(t *testing.T) {
	big, small := NewLimiter("big", 8), NewLimiter("small", 8)
	big.SetLeases(8)
	small.SetLeases(8)
	sb := Settings{Requests: 100_000, Per: time.Second}
	ss := Settings{Algorithm: FixedWindow, Requests: 3, Per: time.Second}
	st := store.NewMem(0, 3)
	checks := []Check{{big, "u", sb}, {small, "", ss}}
	for i := range 3 {
		if res, err := AllowAll(st, t0, 1, checks); err != nil || !res.Allowed {
			t.Fatalf("#%d: %+v %v", i, res, err)
		}
	}
	held, before := big.Leases().Held(), storeBytes(st)
	// The first request took one (a key seen for the first time), the
	// second a lease of (100,000-1)/256, the third used one of it.
	if held != (100_000-1)/LeaseDivisor-2 {
		t.Fatalf("held %d", held)
	}
	res, err := AllowAll(st, t0, 1, checks)
	if err != nil || res.Allowed || res.Deciding != 1 {
		t.Fatalf("4th: %+v %v", res, err)
	}
	if big.Leases().Held() != held || !slices.EqualFunc(storeBytes(st), before, bytes.Equal) {
		t.Fatalf("refused request consumed: held %d -> %d", held, big.Leases().Held())
	}
	// One more key, admitted then given back: to the lease.
	checks = checks[:1]
	if res, err := AllowAll(st, t0, 1, checks); err != nil || !res.Allowed {
		t.Fatal(res, err)
	}
	if err := big.RefundOne(st, "u", sb, t0, t0); err != nil {
		t.Fatal(err)
	}
	if big.Leases().Held() != held || !slices.EqualFunc(storeBytes(st), before, bytes.Equal) {
		t.Fatalf("refund went to the store: held %d -> %d", held, big.Leases().Held())
	}
	// A refund of a request admitted before the lease's take goes to the store.
	gets := st.Gets
	if err := big.RefundOne(st, "u", sb, t0.Add(-time.Nanosecond), t0); err != nil || st.Gets == gets {
		t.Fatalf("refund of an earlier request: %v, gets %d -> %d", err, gets, st.Gets)
	}
}

// TestLeaseWindowEnds: a fixed_window lease admits only inside its window
// and a sliding_window lease inside its sub-window; the unused part is given
// back to the window it was counted in, never to a later one.
func TestLeaseWindowEnds(t *testing.T) {
	for _, alg := range []Algorithm{FixedWindow, SlidingWindow} {
		s := Settings{Algorithm: alg, Requests: 10_000, Per: time.Second}
		lim := NewLimiter("w", 8)
		lim.SetLeases(8)
		st := store.NewMem(0, 5)
		start := time.Unix(1_700_000_000, 0) // on a window boundary
		span := time.Second
		if alg == SlidingWindow {
			span = 100 * ms
		}
		AllowAll(st, start, 1, []Check{{lim, "k", s}}) // seen: one request
		res, _ := AllowAll(st, start, 1, []Check{{lim, "k", s}})
		if !res.Allowed || lim.Leases().Held() != (10_000-1)/LeaseDivisor-1 {
			t.Fatalf("%s: %+v held %d", alg, res, lim.Leases().Held())
		}
		ops := st.Gets + st.Sets
		last := start.Add(span - time.Nanosecond)
		if res, _ := AllowAll(st, last, 1, []Check{{lim, "k", s}}); !res.Allowed || st.Gets+st.Sets != ops {
			t.Fatalf("%s: last instant of the span: %+v, ops %d -> %d", alg, res, ops, st.Gets+st.Sets)
		}
		// The next span takes a new lease, giving the rest back in the same
		// update (to the first span's count, which no longer matters or
		// still counts).
		next := start.Add(span)
		res, _ = AllowAll(st, next, 1, []Check{{lim, "k", s}})
		if !res.Allowed || st.Gets+st.Sets != ops+2 {
			t.Fatalf("%s: next span: %+v, ops %d -> %d", alg, res, ops, st.Gets+st.Sets)
		}
		d, _ := lim.Peek(st, "k", s, next)
		want := int64(10_000 - 10_000/LeaseDivisor) // the new lease only
		if alg == SlidingWindow {
			want = 10_000 - 3 - 10_000/LeaseDivisor // the three used in the first sub-window still count
		}
		if d.Remaining != want {
			t.Fatalf("%s: remaining %d, want %d", alg, d.Remaining, want)
		}
	}
}

// TestLeaseFloodOfKeys: keys seen once each (a flood of distinct keys) take
// one request each, as without leases: the same store operations, and the
// lease table (here 64 keys) stays bounded, giving nothing back for them.
func TestLeaseFloodOfKeys(t *testing.T) {
	s := Settings{Requests: 100_000, Per: time.Second}
	with, without := NewLimiter("f", 4096), NewLimiter("f", 4096)
	with.SetLeases(64)
	sta, stb := store.NewMem(0, 9), store.NewMem(0, 9)
	for i := range 2000 {
		k := "user-" + strconv.Itoa(i)
		now := t0.Add(time.Duration(i) * time.Microsecond)
		ra, ea := AllowAll(sta, now, 1, []Check{{with, k, s}})
		rb, eb := AllowAll(stb, now, 1, []Check{{without, k, s}})
		if ea != nil || eb != nil || !slices.Equal(ra.Decisions, rb.Decisions) {
			t.Fatalf("#%d: %+v %v / %+v %v", i, ra, ea, rb, eb)
		}
	}
	if sta.Gets != stb.Gets || sta.Sets != stb.Sets || !slices.EqualFunc(storeBytes(sta), storeBytes(stb), bytes.Equal) {
		t.Fatalf("store operations %d+%d, without leases %d+%d", sta.Gets, sta.Sets, stb.Gets, stb.Sets)
	}
	if lz := with.Leases(); lz.Live() > lz.Capacity() || lz.Held() != 0 {
		t.Fatalf("%d entries (capacity %d), %d held", lz.Live(), lz.Capacity(), lz.Held())
	}
}
