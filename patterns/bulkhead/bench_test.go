package bulkhead

import (
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// benchSetup returns a bulkhead of 20 permits, 50 waiters, with held
// permits already taken (the record holds that many leases).
func benchSetup(b *testing.B, held int) (*Bulkhead, *store.Mem) {
	bh := New("bh", 100, Settings{MaxConcurrent: 20, QueueSize: 50, MaxWait: time.Second, LeaseTTL: time.Minute})
	st := store.NewMem(0, 1)
	for i := range held {
		if _, ok, err := bh.Acquire(st, "k", uint64(1000+i), t0); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	return bh, st
}

// BenchmarkAcquireRelease: one admission and its release (two store
// round trips each), with 10 other permits held.
func BenchmarkAcquireRelease(b *testing.B) {
	bh, st := benchSetup(b, 10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now := t0.Add(time.Duration(i) * time.Microsecond)
		l, ok, err := bh.Acquire(st, "k", uint64(i), now)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
		if ok, err := bh.Release(st, "k", l, now); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkAcquireFull: a rejected admission (bulkhead full; no write).
func BenchmarkAcquireFull(b *testing.B) {
	bh, st := benchSetup(b, 20)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := bh.Acquire(st, "k", 1, t0); ok {
			b.Fatal("admitted")
		}
	}
}

// BenchmarkTryAdmitQueuedWaiting: a poll of a waiter that stays queued.
func BenchmarkTryAdmitQueuedWaiting(b *testing.B) {
	bh, st := benchSetup(b, 20)
	for i := range 10 {
		bh.Enqueue(st, "k", uint64(i+1), t0)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := bh.TryAdmitQueued(st, "k", 10, t0); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkActive: the gauge read.
func BenchmarkActive(b *testing.B) {
	bh, st := benchSetup(b, 10)
	b.ReportAllocs()
	for b.Loop() {
		if n, _ := bh.Active(st, "k", t0); n != 10 {
			b.Fatal(n)
		}
	}
}
