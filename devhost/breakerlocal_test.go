package devhost

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/metricdef"
)

// breakerLocalFixture runs the plugin (dist/breakwater.wasm) in 2 worker
// VMs on a manual clock, with an upstream that fails while fail is set.
// Requests go to the VMs round-robin: the 1st to VM 0, the 2nd to VM 1...
func breakerLocalFixture(t *testing.T, cb string) (*fixture, *upstream, *ManualClock, *atomic.Bool) {
	t.Helper()
	var fail atomic.Bool
	up := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	clock := NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := `{"policies":[{"name":"svc","circuit_breaker":` + cb + `}]}`
	f := newFixture(t, Options{Wasm: pluginWasm(t), PluginConfig: []byte(cfg), Workers: 2,
		Clusters: map[string]string{"upstream": up.URL}, Clock: clock})
	return f, up, clock, &fail
}

func expectStatus(t *testing.T, f *fixture, what string, status int, reason string) {
	t.Helper()
	r := f.do("GET", "/", "")
	if r.status != status || r.header.Get("X-Breakwater-Reason") != reason {
		t.Fatalf("%s: %d %q, want %d %q", what, r.status, r.header.Get("X-Breakwater-Reason"), status, reason)
	}
}

// TestPluginBreakerOpeningOneTickLate: the breaker opens on VM 0 while VM 1
// holds a fresh closed view; VM 1 admits until its next tick (10 ms) and
// not after (breaker.Local's bound, README "Circuit breaker").
func TestPluginBreakerOpeningOneTickLate(t *testing.T) {
	f, up, clock, fail := breakerLocalFixture(t,
		`{"window":{"type":"count","size":10},"minimum_calls":3,"failure_rate_threshold":0.5,"open_duration":"1h"}`)
	expectStatus(t, f, "VM 0, healthy", 200, "") // creates the record
	expectStatus(t, f, "VM 1, healthy", 200, "") // VM 1's view: closed, clean, not one failure from opening
	fail.Store(true)
	expectStatus(t, f, "VM 0, failure", 503, "")
	fail.Store(false)
	expectStatus(t, f, "VM 1, healthy", 200, "")
	fail.Store(true)
	expectStatus(t, f, "VM 0, failure", 503, "") // 2 failures of 3 calls in the store: opens
	if n, _ := f.h.Metric(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "open")); n != 1 {
		t.Fatalf("transitions to open %d, want 1", n)
	}
	fail.Store(false)
	expectStatus(t, f, "VM 1 after the opening, same instant", 200, "")
	expectStatus(t, f, "VM 0 after its own opening", 503, "circuit_open")
	clock.Advance(9 * time.Millisecond) // the last tick-free instant
	expectStatus(t, f, "VM 1 after the opening, 9 ms", 200, "")
	expectStatus(t, f, "VM 0", 503, "circuit_open")
	seen := up.count()
	clock.Advance(time.Millisecond) // the tick: VM 1 flushes and re-reads
	for i := range 4 {
		expectStatus(t, f, "after the tick, VM "+string(rune('0'+(i+1)%2)), 503, "circuit_open")
	}
	if up.count() != seen || seen != 7 {
		t.Fatalf("upstream saw %d requests (%d before the tick), want 7", up.count(), seen)
	}
	if n, _ := f.h.Metric(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "open")); n != 1 {
		t.Fatalf("transitions to open %d, want 1", n)
	}
}

// TestPluginBreakerSuccessesFlushedAtTick: VM 0's successes reach the
// shared window at its tick, not before (the failure rate another VM's
// failures see is higher until then), and all of them: the flush itself
// opens the breaker when it brings the window to minimum_calls with the
// failure rate at the threshold.
func TestPluginBreakerSuccessesFlushedAtTick(t *testing.T) {
	f, up, clock, fail := breakerLocalFixture(t,
		`{"window":{"type":"count","size":20},"minimum_calls":8,"failure_rate_threshold":0.5,"open_duration":"1h"}`)
	for i := range 4 {
		fail.Store(false)
		expectStatus(t, f, "VM 0 success", 200, "")
		fail.Store(true)
		expectStatus(t, f, "VM 1 failure", 503, "")
		_ = i
	}
	// 4 successes and 4 failures: exact counting would have opened it at
	// the 8th call; the shared window holds VM 1's 4 failures only.
	fail.Store(false)
	expectStatus(t, f, "VM 0 before its tick", 200, "")
	if n, _ := f.h.Metric(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "open")); n != 0 {
		t.Fatalf("opened before the tick: %d", n)
	}
	clock.Advance(10 * time.Millisecond) // VM 0's tick flushes its 5 successes
	if n, _ := f.h.Metric(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "open")); n != 1 {
		t.Fatalf("transitions to open after the tick %d, want 1", n)
	}
	if _, ok := f.h.findLog("from=closed to=open failure_rate=0.500 slow_rate=0.000 calls=8"); !ok {
		t.Fatalf("no opening at 8 calls in the logs: %v", f.h.Logs())
	}
	seen := up.count()
	expectStatus(t, f, "VM 1 after the tick", 503, "circuit_open")
	expectStatus(t, f, "VM 0 after the tick", 503, "circuit_open")
	if up.count() != seen || seen != 9 {
		t.Fatalf("upstream saw %d requests, want 9", up.count())
	}
}
