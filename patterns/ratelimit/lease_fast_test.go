package ratelimit

import (
	"bytes"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestLeaseFastPaths: the filter's one pass over a request's checks (Hit
// then Use for each, the earlier ones given back with Unuse when one
// misses, AllowAll then deciding) decides as AllowAll on twin limiters,
// request by request: the same Results, the same store bytes and
// operations, the same leases held; Hit, Holds, Usable, Use and Unuse
// directly.
func TestLeaseFastPaths(t *testing.T) {
	user := Settings{Requests: 100_000, Per: time.Second}
	path := Settings{Algorithm: SlidingWindow, Requests: 1_000_000, Per: time.Second}
	glob := Settings{Algorithm: FixedWindow, Requests: 5_000, Per: time.Second}
	mk := func() []*Limiter {
		ls := []*Limiter{NewLimiter("u", 64), NewLimiter("p", 64), NewLimiter("g", 64)}
		for _, l := range ls {
			l.SetLeases(16)
		}
		return ls
	}
	la, lb := mk(), mk()
	sta, stb := store.NewMem(0, 5), store.NewMem(0, 5)
	users := make([]string, 12)
	for i := range users {
		users[i] = "u" + strconv.Itoa(i) // one string per user, given again
	}
	// onePass is the filter's (rateLimitStage.onRequest).
	onePass := func(st store.Store, now time.Time, checks []Check) (Result, error) {
		t := Instant(now)
		ds := make([]Decision, 0, len(checks))
		slots := make([]int, len(checks))
		for i, c := range checks {
			lz := c.Limiter.Leases()
			k := lz.Last(c.Key)
			if k < 0 || !lz.Usable(k, &c.Settings, t) {
				k = lz.Hit(c.Key, &c.Settings, t)
			}
			if k < 0 {
				for j := i - 1; j >= 0; j-- {
					checks[j].Limiter.Leases().Unuse(slots[j])
				}
				return AllowAll(st, now, 1, checks)
			}
			slots[i] = k
			ds = append(ds, lz.Use(k, t))
		}
		res := Result{Allowed: true, Decisions: ds, Deciding: -1}
		res.pick()
		return res, nil
	}
	var buf Buffers
	hits, rejected := 0, 0
	for i := range 12_000 {
		now := t0.Add(time.Duration(i) * 150 * time.Microsecond)
		u := users[i*7%len(users)]
		ca := []Check{{la[0], u, user}, {la[1], "/p", path}, {la[2], "", glob}}
		cb := []Check{{lb[0], u, user}, {lb[1], "/p", path}, {lb[2], "", glob}}
		if i%50 == 0 {
			for _, l := range la {
				l.ExpireLeases(sta, now)
			}
			for _, l := range lb {
				l.ExpireLeases(stb, now)
			}
		}
		ops := sta.Gets + sta.Sets
		ra, ea := AllowAll(sta, now, 1, ca)
		rb, eb := onePass(stb, now, cb)
		if ea != nil || eb != nil || ra.Allowed != rb.Allowed || ra.Deciding != rb.Deciding || ra.Delay != rb.Delay ||
			!slices.Equal(ra.Decisions, rb.Decisions) {
			t.Fatalf("#%d: %+v %v / %+v %v", i, ra, ea, rb, eb)
		}
		if sta.Gets+sta.Sets == ops {
			hits++
		}
		if !ra.Allowed {
			rejected++
		}
	}
	if hits < 5_000 || rejected == 0 {
		t.Fatalf("%d requests from leases, %d rejected: the paths are not exercised", hits, rejected)
	}
	if sta.Gets != stb.Gets || sta.Sets != stb.Sets || !slices.EqualFunc(storeBytes(sta), storeBytes(stb), bytes.Equal) {
		t.Fatalf("store operations %d+%d vs %d+%d, or bytes differ", sta.Gets, sta.Sets, stb.Gets, stb.Sets)
	}
	for i := range la {
		if a, b := la[i].Leases(), lb[i].Leases(); a.Held() != b.Held() || a.Live() != b.Live() {
			t.Fatalf("limit %d: held %d/%d, live %d/%d", i, a.Held(), b.Held(), a.Live(), b.Live())
		}
	}

	// Hit, Use, then Unuse: the leases as before (tokens), Use's Decision
	// as allowLeased's estimate, Hit false for other settings or outside
	// the lease.
	lz := lb[0].Leases()
	u := users[0]
	now := t0.Add(12_000 * 150 * time.Microsecond)
	tt := Instant(now)
	k := lz.Hit(u, &user, tt)
	if k < 0 {
		// Take a lease for u first (seen, then leased).
		for range 2 {
			if _, err := AllowAllInto(&buf, stb, now, 1, []Check{{lb[0], u, user}}); err != nil {
				t.Fatal(err)
			}
		}
		if k = lz.Hit(u, &user, tt); k < 0 {
			t.Fatal("no lease for a key seen twice")
		}
	}
	if !lz.Holds(k, u) || lz.Holds(k, strings2(u)) || lz.Holds(-1, u) || lz.Holds(len(lz.e), u) {
		t.Fatal("Holds: not by address and bounds")
	}
	if other := (Settings{Requests: 99_999, Per: time.Second}); lz.Hit(u, &other, tt) >= 0 || lz.Usable(k, &other, tt) {
		t.Fatal("a lease hit under other settings")
	}
	if lz.Hit(u, &user, lz.e[k].until) >= 0 {
		t.Fatal("a lease hit at its end")
	}
	held := lz.Held()
	want := lz.estimate(k, tt, lz.e[k].tokens-1)
	d := lz.Use(k, tt)
	if lz.Held() != held-1 || d != want || !d.Allowed || d.Limit != user.Requests {
		t.Fatalf("Use: %+v, held %d from %d", d, lz.Held(), held)
	}
	lz.Unuse(k)
	if lz.Held() != held {
		t.Fatalf("Unuse: held %d, want %d", lz.Held(), held)
	}
}

// strings2 is a copy of s at another address.
func strings2(s string) string { return string(append([]byte(nil), s...)) }
