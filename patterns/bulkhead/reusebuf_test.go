package bulkhead

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestReuseBufferSameRecords: a Bulkhead with ReuseBuffer writes exactly the
// records of one without, over acquires, renewals, releases and expiries.
func TestReuseBufferSameRecords(t *testing.T) {
	s := Settings{MaxConcurrent: 3, LeaseTTL: time.Second}
	plain, reuse := New("bh", 4, s), New("bh", 4, s)
	reuse.ReuseBuffer()
	sa, sb := store.NewMem(0, 1), store.NewMem(0, 1)
	var held [8]Lease
	for i := 0; i < 400; i++ {
		now := t0.Add(time.Duration(i) * 37 * time.Millisecond)
		h := uint64(1 + i%8)
		var ra, rb any
		switch i % 3 {
		case 0:
			la, oka, erra := plain.Acquire(sa, "k", h, now)
			lb, okb, errb := reuse.Acquire(sb, "k", h, now)
			ra, rb = []any{la, oka, erra}, []any{lb, okb, errb}
			held[h-1] = la
		case 1:
			oka, erra := plain.Release(sa, "k", held[h-1], now)
			okb, errb := reuse.Release(sb, "k", held[h-1], now)
			ra, rb = []any{oka, erra}, []any{okb, errb}
		default:
			ra, rb = plain.Renew(sa, "k", held[h-1], now), reuse.Renew(sb, "k", held[h-1], now)
		}
		va, _, _ := sa.Get(plain.Table().StoreKey("k"))
		vb, _, _ := sb.Get(reuse.Table().StoreKey("k"))
		if !bytes.Equal(va, vb) || fmt.Sprint(ra) != fmt.Sprint(rb) {
			t.Fatalf("op %d: %v / %v, records\n%x\n%x", i, ra, rb, va, vb)
		}
	}
}

// TestReuseBufferConcurrentWorkers: 6 simulated workers, each with its own
// Bulkhead given a buffer (one per worker, as the filter does), on one CAS
// store with injected conflicts: never more than MaxConcurrent in flight,
// and every permit back at the end (the cap is then reached exactly).
func TestReuseBufferConcurrentWorkers(t *testing.T) {
	const workers, opsEach, maxConc = 6, 3000, 4
	s := Settings{MaxConcurrent: maxConc, LeaseTTL: time.Hour}
	st := store.NewMem(0.2, 5)
	var inflight, peak, clock atomic.Int64
	var over atomic.Bool
	now := func() time.Time { return t0.Add(time.Duration(clock.Add(1000))) }
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		b := New("bh", 16, s)
		b.ReuseBuffer()
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []Lease
			for i := 0; i < opsEach; i++ {
				if len(mine) > 0 && (i%3 == 2 || len(mine) > 1) {
					l := mine[len(mine)-1]
					inflight.Add(-1)
					for {
						ok, err := b.Release(st, "k", l, now())
						if errors.Is(err, store.ErrContended) {
							continue
						}
						if err != nil || !ok {
							t.Errorf("release: %v %v", ok, err)
							return
						}
						break
					}
					mine = mine[:len(mine)-1]
					continue
				}
				l, ok, err := b.Acquire(st, "k", uint64(w)<<32|uint64(i)<<1|1, now())
				if err != nil || !ok {
					continue
				}
				n := inflight.Add(1)
				if n > maxConc {
					over.Store(true)
				}
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				mine = append(mine, l)
			}
			for _, l := range mine {
				inflight.Add(-1)
				for {
					if _, err := b.Release(st, "k", l, now()); !errors.Is(err, store.ErrContended) {
						break
					}
				}
			}
		}(w)
	}
	wg.Wait()
	if over.Load() {
		t.Fatal("more than MaxConcurrent in flight")
	}
	if n, err := New("bh", 16, s).Active(st, "k", now()); err != nil || n != 0 {
		t.Fatalf("active at the end %d (%v), want 0", n, err)
	}
	// Nothing leaked: the cap is reached again exactly, by two of the
	// workers' kind of Bulkhead (each with its buffer), and not exceeded.
	st.ConflictRate = 0
	x, y := New("bh", 16, s), New("bh", 16, s)
	x.ReuseBuffer()
	y.ReuseBuffer()
	for i := 0; i < maxConc; i++ {
		if _, ok, err := []*Bulkhead{x, y}[i%2].Acquire(st, "k", uint64(1000+2*i+1), now()); !ok || err != nil {
			t.Fatalf("acquire %d of %d after the run: %v %v", i+1, maxConc, ok, err)
		}
	}
	if _, ok, err := y.Acquire(st, "k", 999, now()); ok || err != nil {
		t.Fatalf("acquire beyond the cap: %v %v", ok, err)
	}
	t.Logf("peak in flight during the run: %d of %d", peak.Load(), maxConc)
}
