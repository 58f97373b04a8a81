package retry

import (
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// BenchmarkRequestRetries: the per-request decision (count the request,
// reserve retries), one store round trip; time advances 10µs per request so
// the window slides as in production.
func BenchmarkRequestRetries(b *testing.B) {
	bu := NewBudget("k", Of(0.2, 5))
	st := store.NewMem(0, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := bu.RequestRetries(st, t0.Add(time.Duration(i)*10*time.Microsecond), 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTryRetryExhausted: a denied reservation (nothing written).
func BenchmarkTryRetryExhausted(b *testing.B) {
	bu := NewBudget("k", Of(0, 1))
	st := store.NewMem(0, 1)
	bu.TryRetry(st, t0, 1)
	b.ReportAllocs()
	for b.Loop() {
		if g, _ := bu.TryRetry(st, t0, 2); g != 0 {
			b.Fatal(g)
		}
	}
}

// BenchmarkRefund: settling a grant on the response.
func BenchmarkRefund(b *testing.B) {
	bu := NewBudget("k", Of(0, 1_000_000))
	st := store.NewMem(0, 1)
	bu.TryRetry(st, t0, 1_000_000)
	b.ReportAllocs()
	for b.Loop() {
		if err := bu.Refund(st, t0, t0, 1); err != nil {
			b.Fatal(err)
		}
	}
}
