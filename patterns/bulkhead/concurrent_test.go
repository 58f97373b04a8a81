package bulkhead

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestConcurrentNoOverAdmissionNoLeak runs 8 simulated workers on one store
// with injected conflicts, in rounds. Within a round the shared clock moves
// 1µs per operation (a round lasts a few ms, far below LeaseTTL), so no
// lease expires and the in-flight counter is exact: it is incremented after
// a successful Acquire/TryAdmitQueued and decremented before Release, and a
// crashed holder (which never releases) stays counted. Between rounds the
// clock jumps past LeaseTTL: the crashed permits are then reclaimed, which
// the test checks (Active == crashed before the jump, 0 after).
func TestConcurrentNoOverAdmissionNoLeak(t *testing.T) {
	const (
		workers = 8
		rounds  = 25
		opsEach = 3000 // 8 × 25 × 3000 = 600,000 operations
		maxConc = 6
	)
	s := Settings{MaxConcurrent: maxConc, QueueSize: 8, MaxWait: 300 * time.Microsecond, LeaseTTL: time.Second}
	b := New("bh", 16, s)
	st := store.NewMem(0.2, 99)
	var (
		inflight, peak                                                   atomic.Int64
		clock                                                            atomic.Int64 // ns since t0
		over                                                             atomic.Bool
		acquired, denied, admitted, expired, crashed, contended, doubles atomic.Int64
	)
	now := func() time.Time { return t0.Add(time.Duration(clock.Add(1000))) }
	enter := func() {
		n := inflight.Add(1)
		if n > maxConc {
			over.Store(true)
		}
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
	}
	release := func(l Lease) error {
		inflight.Add(-1)
		for {
			ok, err := b.Release(st, "k", l, now())
			if errors.Is(err, store.ErrContended) {
				contended.Add(1)
				continue
			}
			if err != nil || !ok {
				return errors.Join(errors.New("release of a held lease failed"), err)
			}
			return nil
		}
	}
	// Create the record before the race: two workers creating the same store
	// key at once can lose one update (see store.Update).
	if l, ok, err := b.Acquire(st, "k", 1, t0); !ok || err != nil {
		t.Fatal(ok, err)
	} else if ok, err := b.Release(st, "k", l, t0); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// Rounds go on until 100,000 admissions are reached (how many a round
	// makes depends on the scheduling), at most 4×rounds.
	for round := 0; round < 4*rounds && (round < rounds || acquired.Load()+admitted.Load() < 100000); round++ {
		var roundCrashed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				var held []Lease
				var waiting uint64
				fail := func(err error) { errs <- err }
				for range opsEach {
					if waiting != 0 {
						l, ok, err := b.TryAdmitQueued(st, "k", waiting, now())
						switch {
						case errors.Is(err, ErrNotQueued):
							expired.Add(1)
							waiting = 0
						case errors.Is(err, store.ErrContended):
							contended.Add(1)
						case err != nil:
							fail(err)
							return
						case ok:
							enter()
							admitted.Add(1)
							held = append(held, l)
							waiting = 0
						case r.IntN(64) == 0: // the waiter gives up (stream reset)
							if err := b.Dequeue(st, "k", waiting, now()); err != nil && !errors.Is(err, store.ErrContended) {
								fail(err)
								return
							}
							waiting = 0
						}
						continue
					}
					x := r.Float64()
					switch {
					case x < 0.5 && len(held) < 2:
						id := r.Uint64() | 1
						l, ok, err := b.Acquire(st, "k", id, now())
						if errors.Is(err, store.ErrContended) {
							contended.Add(1)
							continue
						}
						if err != nil {
							fail(err)
							return
						}
						if ok {
							enter()
							acquired.Add(1)
							held = append(held, l)
							continue
						}
						denied.Add(1)
						if r.IntN(2) == 0 {
							if _, ok, err := b.Enqueue(st, "k", id, now()); err == nil && ok {
								waiting = id
							}
						}
					case x < 0.9995 && len(held) > 0:
						i := r.IntN(len(held))
						l := held[i]
						held = append(held[:i], held[i+1:]...)
						if err := release(l); err != nil {
							fail(err)
							return
						}
						if r.IntN(10) == 0 { // double release must be a no-op
							doubles.Add(1)
							if ok, err := b.Release(st, "k", l, now()); ok || (err != nil && !errors.Is(err, store.ErrContended)) {
								fail(errors.New("second release reported held"))
								return
							}
						}
					case len(held) > 0: // crash: the holder vanishes and never releases
						i := r.IntN(len(held))
						held = append(held[:i], held[i+1:]...)
						crashed.Add(1)
						roundCrashed.Add(1)
					}
				}
				for _, l := range held {
					if err := release(l); err != nil {
						fail(err)
						return
					}
				}
				if waiting != 0 {
					for errors.Is(b.Dequeue(st, "k", waiting, now()), store.ErrContended) {
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		if over.Load() {
			t.Fatalf("round %d: in-flight exceeded %d", round, maxConc)
		}
		end := t0.Add(time.Duration(clock.Load()))
		if a, _ := b.Active(st, "k", end); int64(a) != roundCrashed.Load() {
			t.Fatalf("round %d: active %d at round end, %d crashed holders: a permit leaked or was lost", round, a, roundCrashed.Load())
		}
		if q, _ := b.Queued(st, "k", end); q != 0 {
			t.Fatalf("round %d: %d waiters left", round, q)
		}
		inflight.Add(-roundCrashed.Load()) // their leases expire with the jump
		clock.Add(int64(2 * s.LeaseTTL))
		if a, _ := b.Active(st, "k", t0.Add(time.Duration(clock.Load()))); a != 0 {
			t.Fatalf("round %d: %d permits not reclaimed after lease_ttl", round, a)
		}
	}
	// Full capacity is acquirable again, and no more.
	end := t0.Add(time.Duration(clock.Load()))
	for i := range maxConc {
		if _, ok, err := b.Acquire(st, "k", uint64(1<<40+i), end); !ok || err != nil {
			t.Fatalf("final acquire %d: %v %v", i, ok, err)
		}
	}
	if _, ok, _ := b.Acquire(st, "k", 1<<41, end); ok {
		t.Fatal("acquired beyond capacity")
	}
	t.Logf("acquired %d, denied %d, admitted from queue %d, waiters expired %d, crashed %d, double releases %d, contended %d, peak in-flight %d, store conflicts %d",
		acquired.Load(), denied.Load(), admitted.Load(), expired.Load(), crashed.Load(), doubles.Load(), contended.Load(), peak.Load(), st.Conflicts)
	if n := acquired.Load() + admitted.Load(); n < 100000 {
		t.Fatalf("only %d admissions, want at least 100,000 admit/release/crash sequences", n)
	}
	if peak.Load() != maxConc || admitted.Load() == 0 || expired.Load() == 0 || crashed.Load() == 0 || denied.Load() == 0 || st.Conflicts == 0 {
		t.Fatal("the run did not exercise saturation, the queue, expiry, crashes and conflicts")
	}
}
