package ratelimit

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// checkOrder fails unless lz.order lists exactly the leases taken (on, not
// seen entries), each once, with pos its index there (-1 for a seen entry),
// as a min-heap by until, live counts the entries on and next is no later
// than the first end.
func checkOrder(t *testing.T, lz *Leases, step int) {
	t.Helper()
	on, leased := 0, 0
	for i := range lz.e {
		e := &lz.e[i]
		switch {
		case e.on && !e.idle:
			leased++
			if p := e.pos; p < 0 || int(p) >= len(lz.order) || lz.order[p].slot != int32(i) || lz.order[p].until != e.until {
				t.Fatalf("step %d: lease %d at pos %d, not in order %v", step, i, p, lz.order)
			}
		case e.on && e.pos != -1:
			t.Fatalf("step %d: seen entry %d at pos %d, in the heap", step, i, e.pos)
		}
		if e.on {
			on++
		}
	}
	if leased != len(lz.order) || on != lz.live {
		t.Fatalf("step %d: %d leases, order has %d; %d on, live %d", step, leased, len(lz.order), on, lz.live)
	}
	for j := 1; j < len(lz.order); j++ {
		if lz.order[j].until < lz.order[(j-1)/2].until {
			t.Fatalf("step %d: heap index %d ends before its parent", step, j)
		}
	}
	if len(lz.order) > 0 && lz.next > lz.order[0].until {
		t.Fatalf("step %d: next %d after the first end %d", step, lz.next, lz.order[0].until)
	}
}

// TestLeaseOrderVisitsEveryLiveLease: Expire visits only the leases that
// ended (the heap Leases.order, not the whole table), and still every one
// of them. Two
// workers' limiters with leases on one store take, use, give back and
// replace leases of 300 keys in a table of 64 at random instants, with
// Expire after each step; the live list stays exactly the leases on, and
// once every lease has ended and Expire ran, no worker holds a request
// and every key's state in the store counts exactly the requests admitted
// (a fixed window of an hour that the run stays inside: no request of an
// ended lease is lost or kept).
func TestLeaseOrderVisitsEveryLiveLease(t *testing.T) {
	s := Settings{Algorithm: FixedWindow, Requests: 1 << 20, Per: time.Hour}
	st := store.NewMem(0, 11)
	ws := []*Limiter{NewLimiter("order", 1<<16), NewLimiter("order", 1<<16)}
	for _, w := range ws {
		w.SetLeases(64)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1_700_000_000, 0) // 2,800 s before the window ends
	admitted := map[string]int64{}
	for step := 0; step < 20000; step++ {
		now = now.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
		w := ws[rng.IntN(len(ws))]
		key := "k" + strconv.Itoa(rng.IntN(300))
		if rng.IntN(8) == 0 {
			key = "hot"
		}
		res, err := AllowAll(st, now, 1, []Check{{w, key, s}})
		if err != nil || !res.Allowed {
			t.Fatalf("step %d: %+v %v", step, res, err)
		}
		admitted[key]++
		w.ExpireLeases(st, now)
		checkOrder(t, w.leases, step)
	}
	now = now.Add(2 * LeaseLifetime)
	for _, w := range ws {
		w.ExpireLeases(st, now) // gives back; the entries stay as seen
		checkOrder(t, w.leases, -1)
		if len(w.leases.order) != 0 || w.leases.Held() != 0 {
			t.Fatalf("after every lease ended: %d leases, held %d", len(w.leases.order), w.leases.Held())
		}
	}
	probe := NewLimiter("order", 1<<16)
	for key, n := range admitted {
		d, err := probe.Peek(st, key, s, now)
		if err != nil || d.Remaining != s.Requests-n {
			t.Fatalf("%s: %d admitted, store remaining %d (want %d): %v", key, n, d.Remaining, s.Requests-n, err)
		}
	}
	if len(admitted) < 300 {
		t.Fatalf("only %d keys requested", len(admitted))
	}
}
