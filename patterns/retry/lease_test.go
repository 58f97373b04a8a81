package retry

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// usage is Budget.Usage that fails the test on error.
func usage(t *testing.T, b *Budget, st store.Store, now time.Time) (req, ret, avail int) {
	t.Helper()
	req, ret, avail, err := b.Usage(st, now)
	if err != nil {
		t.Fatal(err)
	}
	return req, ret, avail
}

// counting wraps a store and counts its round trips.
type counting struct {
	store.Store
	gets, sets int
}

func (c *counting) Get(k string) ([]byte, uint32, error) { c.gets++; return c.Store.Get(k) }
func (c *counting) Set(k string, v []byte, cas uint32) error {
	c.sets++
	return c.Store.Set(k, v, cas)
}

// TestLeaseSizeAtTheBound: a lease takes exactly
// min(floor(available/LeaseShare), MaxLease) grants beyond the request's
// own, none below LeaseShare available (the exact path), and the worker
// holds them, counted as retries in the shared budget.
func TestLeaseSizeAtTheBound(t *testing.T) {
	for _, c := range []struct {
		minPS, held int
	}{
		{1, 0}, {2, 0}, {16, 0}, {17, 1}, {33, 2}, {1000, 62}, {1025, 64}, {100_000, MaxLease},
	} {
		b := NewBudget("k", Of(0, c.minPS))
		st := store.NewMem(0, 1)
		l := NewLease(b)
		g, err := l.Request(st, t0, 1)
		if err != nil || g != 1 {
			t.Fatalf("min %d: granted %d %v", c.minPS, g, err)
		}
		want := min((c.minPS-1)/LeaseShare, MaxLease)
		if want != c.held || l.Held() != c.held {
			t.Fatalf("min %d: holds %d, want %d (table %d)", c.minPS, l.Held(), want, c.held)
		}
		req, ret, avail := usage(t, b, st, t0)
		if req != 1 || ret != 1+c.held || avail != c.minPS-1-c.held {
			t.Fatalf("min %d: budget %d requests %d retries %d available, want 1 %d %d", c.minPS, req, ret, avail, 1+c.held, c.minPS-1-c.held)
		}
	}
}

// TestLeaseLocalAndTick: after the first round trip, requests are served
// from the pool and counted locally (no store operation); the tick writes
// the requests and the refunds in one update and leases again; a tick
// after an idle period gives the pool back: the shared budget then holds
// exactly what the workers did.
func TestLeaseLocalAndTick(t *testing.T) {
	b := NewBudget("k", Of(0.5, 1000))
	st := &counting{Store: store.NewMem(0, 1)}
	l := NewLease(b)
	if g, _ := l.Request(st, at(1), 1); g != 1 || l.Held() != 62 {
		t.Fatalf("first request: %d granted, %d held", g, l.Held())
	}
	l.Unused(at(1), 1) // the pool is full: given back with the next update
	ops := st.gets + st.sets
	for i := range 10 {
		g, err := l.Request(st, at(2+i), 1)
		if err != nil || g != 1 {
			t.Fatalf("request %d: %d %v", i, g, err)
		}
		l.Unused(at(2+i), 1) // not retried: back to the pool
	}
	if g, _ := l.Request(st, at(20), 0); g != 0 {
		t.Fatal("asked none, granted some")
	}
	if st.gets+st.sets != ops || l.Held() != 62 {
		t.Fatalf("local requests: %d store ops, %d held", st.gets+st.sets-ops, l.Held())
	}
	// Delayed deposits: the budget has not seen the 11 requests yet (it
	// allows less, never more, than they earn).
	if req, ret, _ := usage(t, b, st, at(20)); req != 1 || ret != 63 {
		t.Fatalf("before the tick: %d requests %d retries", req, ret)
	}
	ops = st.gets + st.sets
	if err := l.Tick(st, at(30)); err != nil {
		t.Fatal(err)
	}
	tickOps := st.gets + st.sets - ops
	// 12 requests: allowance floor(0.5×12+1000) = 1006, the 63 reserved
	// are given back, a new lease takes floor(1006/16) = 62.
	if req, ret, _ := usage(t, b, st, at(30)); req != 12 || ret != 62 || l.Held() != 62 {
		t.Fatalf("after the tick: %d requests %d retries, %d held", req, ret, l.Held())
	}
	if tickOps != 2 {
		t.Fatalf("the tick took %d store ops, want one get and one set", tickOps)
	}
	if err := l.Tick(st, at(40)); err != nil { // nothing handed out since: the pool goes back
		t.Fatal(err)
	}
	if req, ret, _ := usage(t, b, st, at(40)); req != 12 || ret != 0 || l.Held() != 0 {
		t.Fatalf("idle tick: %d requests %d retries, %d held", req, ret, l.Held())
	}
	ops = st.gets + st.sets
	if err := l.Tick(st, at(50)); err != nil || st.gets+st.sets != ops {
		t.Fatalf("a tick with nothing to do made %d store ops (%v)", st.gets+st.sets-ops, err)
	}
}

// TestLeaseEpochAndRecycle: a pool is handed out only in the epoch it is
// counted in (a later request makes a round trip that gives it back);
// unused grants go back to the pool up to its lease size, the rest with
// the next update; Charge is written at once.
func TestLeaseEpochAndRecycle(t *testing.T) {
	b := NewBudget("k", Of(0, 1000))
	st := &counting{Store: store.NewMem(0, 1)}
	l := NewLease(b)
	l.Request(st, at(0), 2) // 2 + floor(998/16)=62 held
	if l.Held() != 62 {
		t.Fatalf("held %d", l.Held())
	}
	l.Unused(at(0), 2) // the pool is full: both wait for the next update
	if l.Held() != 62 || !l.dirty {
		t.Fatalf("recycled past the lease size: held %d", l.Held())
	}
	l.Request(st, at(10), 3)
	l.Unused(at(10), 1)
	if l.Held() != 60 {
		t.Fatalf("held %d, want 59+1", l.Held())
	}
	ops := st.gets + st.sets
	g, err := l.Request(st, at(100), 1) // the next epoch: a round trip
	if err != nil || g != 1 || st.gets+st.sets == ops {
		t.Fatalf("new epoch: %d %v, store ops %d", g, err, st.gets+st.sets-ops)
	}
	// Retries in the window: epoch 0 keeps the 2 of the 3 handed at 10ms
	// that were used (the first request's 2 and the pool were given back),
	// epoch 1 the new request's 1 and the new lease's 62.
	_, ret, avail := usage(t, b, st, at(100))
	if want := 2 + 1 + 62; ret != want || avail != 1000-want || l.Held() != 62 {
		t.Fatalf("window: %d retries %d available (%d held), want %d", ret, avail, l.Held(), want)
	}
	if err := l.Charge(st, at(110), 5); err != nil {
		t.Fatal(err)
	}
	// Charged at once; the update gave the pool back.
	if _, ret2, _ := usage(t, b, st, at(110)); ret2 != ret+5-62 || l.Held() != 0 {
		t.Fatalf("charge: %d retries, had %d (%d held)", ret2, ret, l.Held())
	}
}

// TestLeaseDenialAndReach: two workers on one budget of 40. A worker is
// denied only when the shared budget has nothing left; what another
// worker holds then is within its lease bound, and once that worker ticks
// the budget is reached exactly: 40 grants in all.
func TestLeaseDenialAndReach(t *testing.T) {
	b := NewBudget("k", Of(0, 40))
	st := store.NewMem(0, 1)
	a, c := NewLease(b), NewLease(b)
	if g, _ := a.Request(st, at(0), 1); g != 1 || a.Held() != 2 { // floor(39/16)
		t.Fatalf("a: %d granted, %d held", g, a.Held())
	}
	got := 0
	for {
		g, err := c.Request(st, at(1), 1)
		if err != nil {
			t.Fatal(err)
		}
		if g == 0 {
			break
		}
		got += g
	}
	_, ret, avail := usage(t, b, st, at(1))
	if got != 37 || avail != 0 || ret != 40 || c.Held() != 0 || a.Held() != 2 {
		t.Fatalf("c got %d (want 37), budget %d retries %d available, held a %d c %d", got, ret, avail, a.Held(), c.Held())
	}
	if err := a.Tick(st, at(2)); err != nil { // a's lease goes back (a new one would be 0)
		t.Fatal(err)
	}
	for {
		g, _ := c.Request(st, at(3), 1)
		if g == 0 {
			break
		}
		got += g
	}
	if got+1 != 40 || a.Held() != 0 {
		t.Fatalf("reached %d of 40 (a holds %d)", got+1, a.Held())
	}
}

// TestLeaseDelayedDepositsConservative: requests counted locally raise
// the allowance only once written; until then other workers get less,
// never more.
func TestLeaseDelayedDepositsConservative(t *testing.T) {
	b := NewBudget("k", Of(1, 1))
	st := store.NewMem(0, 1)
	a, c := NewLease(b), NewLease(b)
	for range 5 {
		a.Request(st, at(0), 0)
	}
	// c's own request counts: allowance floor(1×1+1) = 2.
	if g, _ := c.Request(st, at(1), 5); g != 2 {
		t.Fatalf("granted %d before a's deposits, want 2", g)
	}
	a.Tick(st, at(2))
	if req, _, avail := usage(t, b, st, at(2)); req != 6 || avail != 5 {
		t.Fatalf("after a's tick: %d requests %d available, want 6 and 5", req, avail)
	}
}

// TestConcurrentLeaseNeverExceeded: 8 workers, each with its own Lease, on
// one store with injected conflicts, in phases 50ms apart (the window
// slides every second phase); each phase ends with every worker's tick.
// Each worker logs what it was told: requests made, retries handed out by
// epoch, unused grants given back. After every phase:
//
//   - the true retries of the window (handed out minus given back) are
//     within floor(Ratio × true requests + MinPerSecond);
//   - the budget counts every request (the ticks wrote them: none is lost
//     or counted twice) and exactly the true retries plus the pools held;
//   - every pool is within its bound, min(floor(available/16), MaxLease).
//
// At the end, after a tick without new grants (the pools go back), one
// worker asking one retry at a time is denied only when the budget is
// exactly spent: it is reached.
func TestConcurrentLeaseNeverExceeded(t *testing.T) {
	const (
		workers = 8
		phases  = 80
		opsEach = 150
	)
	s := Of(0.8, 1000)
	ratio, minPS := s.Values()
	b := NewBudget("ns/retry/p", s)
	st := store.NewMem(0.2, 7)
	type grant struct {
		at        time.Time
		remaining int
	}
	type log struct {
		requests map[int64]int
		retries  map[int64]int // handed out minus given back, by epoch
		grants   []*grant
		asked    int
		got      int
		local    int // requests served without a store update
	}
	logs := make([]*log, workers)
	leases := make([]*Lease, workers)
	for w := range logs {
		logs[w] = &log{requests: map[int64]int{}, retries: map[int64]int{}}
		leases[w] = NewLease(b)
	}
	// Create the key before the race (see TestConcurrentBudgetNeverExceeded).
	if err := b.RecordRequest(st, t0.Add(-10*time.Second)); err != nil {
		t.Fatal(err)
	}
	sum := func(e int64, m func(*log) map[int64]int) int {
		n := 0
		for _, lg := range logs {
			for x, v := range m(lg) {
				if x > e-Buckets && x <= e {
					n += v
				}
			}
		}
		return n
	}
	leased := 0
	for p := range phases {
		now := t0.Add(time.Duration(p) * 50 * time.Millisecond)
		e := epochOf(now)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(p), uint64(w)))
				lg, l := logs[w], leases[w]
				busy := p%8 < 4 // the request rate varies so the budget runs dry at times
				for range opsEach {
					switch x := r.IntN(10); {
					case x < 3 && busy, x < 1:
						if _, err := l.Request(st, now, 0); err != nil {
							errs <- err
							return
						}
						lg.requests[e]++
					case x < 6:
						n := 1 + r.IntN(3)
						fromPool := l.pool >= n && l.poolEpoch == e
						g, err := l.Request(st, now, n)
						if err != nil && !errors.Is(err, store.ErrContended) {
							errs <- err
							return
						}
						lg.requests[e]++ // counted now or with the next update
						if g < 0 || g > n {
							errs <- errors.New("granted outside 0..n")
							return
						}
						if fromPool {
							lg.local++
						}
						lg.asked += n
						lg.got += g
						if g > 0 {
							lg.retries[e] += g
							lg.grants = append(lg.grants, &grant{at: now, remaining: g})
						}
					default:
						if len(lg.grants) == 0 {
							continue
						}
						gr := lg.grants[r.IntN(len(lg.grants))]
						if gr.remaining == 0 {
							continue
						}
						n := 1 + r.IntN(gr.remaining)
						l.Unused(gr.at, n)
						gr.remaining -= n
						if ge := epochOf(gr.at); ge > e-Buckets {
							lg.retries[ge] -= n
						}
					}
					if l.pool > l.poolCap || l.poolCap > MaxLease {
						errs <- errors.New("a pool beyond its lease")
						return
					}
				}
				// The tick; a conflict leaves everything for the next one.
				for {
					if err := l.Tick(st, now); err == nil {
						return
					} else if !errors.Is(err, store.ErrContended) {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("phase %d: %v", p, err)
		}
		req := sum(e, func(l *log) map[int64]int { return l.requests })
		ret := sum(e, func(l *log) map[int64]int { return l.retries })
		bound := int(math.Floor(ratio*float64(req) + float64(minPS) + 1e-9))
		if ret > bound {
			t.Fatalf("phase %d: %d retries in the window, bound %d (%d requests)", p, ret, bound, req)
		}
		held := 0
		for _, l := range leases {
			held += l.Held()
			if l.Held() > 0 && l.poolEpoch != e {
				t.Fatalf("phase %d: a pool of epoch %d survived the tick of epoch %d", p, l.poolEpoch, e)
			}
		}
		leased = max(leased, held)
		breq, bret, _ := usage(t, b, st, now)
		if breq != req || bret != ret+held {
			t.Fatalf("phase %d: budget counts %d requests %d retries, workers %d requests %d retries + %d held", p, breq, bret, req, ret, held)
		}
		if bret > int(math.Floor(ratio*float64(breq)+float64(minPS)+1e-9)) {
			t.Fatalf("phase %d: the budget's own count %d over its allowance", p, bret)
		}
	}
	var asked, got, local int
	for _, lg := range logs {
		asked += lg.asked
		got += lg.got
		local += lg.local
	}
	t.Logf("retries asked %d, granted %d (%d from pools), most held at a phase end %d, store conflicts %d", asked, got, local, leased, st.Conflicts)
	if got == 0 || got >= asked || local == 0 || leased == 0 || st.Conflicts == 0 {
		t.Fatal("the run did not exercise grants, exhaustion, pools and conflicts")
	}
	// Reach: the pools go back with an idle tick, then one worker takes all.
	now := t0.Add(phases * 50 * time.Millisecond)
	for _, l := range leases {
		if err := l.Tick(st, now); err != nil {
			t.Fatal(err)
		}
		if err := l.Tick(st, now); err != nil || l.Held() != 0 {
			t.Fatalf("idle tick: %v, %d held", err, l.Held())
		}
	}
	l := leases[0]
	for {
		g, err := l.Request(st, now, 1)
		if err != nil {
			t.Fatal(err)
		}
		if g == 0 {
			break
		}
	}
	if _, _, avail := usage(t, b, st, now); avail != 0 || l.Held() != 0 || l.dirty {
		t.Fatalf("denied with %d available, %d held", avail, l.Held())
	}
}
