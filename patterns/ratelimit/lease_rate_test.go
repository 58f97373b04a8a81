package ratelimit

import (
	"strconv"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestLeaseCostByKeyRate: one worker, n keys in turn, a request every
// millisecond (each key every n ms), ExpireLeases every 10 ms (the
// filter's tick), for every leasable algorithm at a limit no key nears:
// the store operations per request are never more than deciding each
// request on its own costs (one update, a get and a set: 2); a key that
// comes back four times a lease lifetime costs a quarter of that with a
// bucket, half with a fixed window of a second (one lease per window), and
// 2 with a sliding window, whose leases last a sub-window (100 ms here,
// less than the 250 ms between the key's requests: the key is decided on
// its own, never leased and given back unused).
// Before leases were renewed only when used (Check.decide, minLeaseUse)
// and a seen key counted only within a lifetime, keys that came back
// about once a lifetime cost up to 1.5 updates a request (a lease taken,
// never used, given back by the tick), and a give back that found the
// bucket full read the state a second time.
func TestLeaseCostByKeyRate(t *testing.T) {
	for _, alg := range leaseAlgs {
		s := Settings{Algorithm: alg, Requests: 1_000_000, Per: time.Second} // refilled, or a new window, every second
		four := map[Algorithm]float64{TokenBucket: 0.55, GCRA: 0.55, FixedWindow: 1.05, SlidingWindow: 2}[alg]
		for _, c := range []struct {
			keys int
			max  float64 // store operations per request
		}{{250, four}, {500, 2}, {1000, 2}, {2000, 2}} {
			st := store.NewMem(0, 1)
			l := NewLimiter("rate", 100_000)
			l.SetLeases(1024)
			keys := make([]string, c.keys)
			for i := range keys {
				keys[i] = "user-" + strconv.Itoa(i)
			}
			now := t0
			const n = 20_000
			var ops0 int
			for i := 0; i < n; i++ {
				if i == n/2 { // measured: the second half
					ops0 = st.Gets + st.Sets
				}
				now = now.Add(time.Millisecond)
				res, err := AllowAll(st, now, 1, []Check{{l, keys[i%c.keys], s}})
				if err != nil || !res.Allowed {
					t.Fatalf("%s, %d keys, request %d: %+v %v", alg, c.keys, i, res, err)
				}
				if i%10 == 0 {
					l.ExpireLeases(st, now)
				}
			}
			per := float64(st.Gets+st.Sets-ops0) / (n / 2)
			if per > c.max {
				t.Errorf("%s, %d keys (each every %d ms): %.3f store operations per request, want at most %.2f", alg, c.keys, c.keys, per, c.max)
			}
		}
	}
}

// TestLeaseRenewalNeedsUse: a lease that ended without admitting a
// request is not renewed by the key's next request, which is decided on
// its own (giving the lease's requests back in the same update) and makes
// the key seen again; its next request within a lifetime takes a lease.
// A key seen more than a lifetime ago is seen anew: no lease either.
func TestLeaseRenewalNeedsUse(t *testing.T) {
	s := Settings{Algorithm: FixedWindow, Requests: 1_000_000, Per: time.Hour}
	lim := NewLimiter("renew", 64)
	lim.SetLeases(8)
	st := store.NewMem(0, 3)
	allow := func(at time.Time) {
		t.Helper()
		if res, err := AllowAll(st, at, 1, []Check{{lim, "k", s}}); err != nil || !res.Allowed {
			t.Fatalf("%v: %+v %v", at, res, err)
		}
	}
	allow(t0)                       // seen
	allow(t0.Add(time.Millisecond)) // a lease
	if lim.Leases().Held() == 0 {
		t.Fatal("the second request took no lease")
	}
	end := t0.Add(time.Millisecond + LeaseLifetime) // the lease has ended, not expired yet
	ops := st.Gets + st.Sets
	allow(end)
	if h := lim.Leases().Held(); h != 0 || st.Gets+st.Sets != ops+2 {
		t.Fatalf("after an unused lease: held %d, store operations %d (want 0, one update)", h, st.Gets+st.Sets-ops)
	}
	d, _ := lim.Peek(st, "k", s, end)
	if d.Remaining != s.Requests-3 {
		t.Fatalf("remaining %d, want %d: the unused lease was not given back", d.Remaining, s.Requests-3)
	}
	allow(end.Add(time.Millisecond)) // seen again, within a lifetime: a lease
	if lim.Leases().Held() == 0 {
		t.Fatal("no lease for a key seen again within a lifetime")
	}

	lim2 := NewLimiter("renew2", 64)
	lim2.SetLeases(8)
	if _, err := AllowAll(st, t0, 1, []Check{{lim2, "k", s}}); err != nil {
		t.Fatal(err)
	}
	if _, err := AllowAll(st, t0.Add(LeaseLifetime), 1, []Check{{lim2, "k", s}}); err != nil {
		t.Fatal(err)
	}
	if h := lim2.Leases().Held(); h != 0 {
		t.Fatalf("a key seen a lifetime ago took a lease of %d", h)
	}
}
