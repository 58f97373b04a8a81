package breaker

import (
	"strconv"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// benchAllowReport runs admission + outcome on one store.Mem: every 10th
// call fails (below the 0.5 threshold, so the breaker stays closed), time
// moves 10µs per request.
func benchAllowReport(b *testing.B, s Settings, keys []string) {
	br := New("cb", max(1, len(keys)), s)
	st := store.NewMem(0, 1)
	b.ReportAllocs()
	now := t0
	i := 0
	for b.Loop() {
		key := keys[i%len(keys)]
		now = now.Add(10 * time.Microsecond)
		tok, ok, _, err := br.Allow(st, key, now)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		if _, err := br.Report(st, key, tok, now, Outcome{Failure: (i/len(keys))%10 == 0, Duration: time.Millisecond}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if s, _ := br.State(st, keys[0], now); s != Closed {
		b.Fatal("tripped")
	}
}

func BenchmarkAllowReportCountWindow(b *testing.B) {
	benchAllowReport(b, Settings{}, []string{""})
}

func BenchmarkAllowReportTimeWindow(b *testing.B) {
	benchAllowReport(b, Settings{Window: TimeWindow, WindowDuration: time.Minute, SlowCallDuration: time.Second}, []string{""})
}

func BenchmarkAllowReportKeyed1000(b *testing.B) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	benchAllowReport(b, Settings{}, keys)
}

// BenchmarkAllowOpen is the rejection path: one store read.
func BenchmarkAllowOpen(b *testing.B) {
	br := New("cb", 1, Settings{ConsecutiveFailures: 1})
	st := store.NewMem(0, 1)
	tok, _, _, _ := br.Allow(st, "", t0)
	br.Report(st, "", tok, t0, Outcome{Failure: true})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _, _ := br.Allow(st, "", t0.Add(time.Second)); ok {
			b.Fatal("admitted")
		}
	}
}
