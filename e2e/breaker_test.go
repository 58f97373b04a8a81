package e2e

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
)

const breakerConfig = `{"policies":[{"name":"orders","match":{"path_prefix":"/orders"},
 "circuit_breaker":{"window":{"type":"count","size":20},"minimum_calls":10,"failure_rate_threshold":0.5,
   "open_duration":"30s","half_open_calls":3}}]}`

// TestBreakerProtectsFailingUpstream: a real upstream that answers 503,
// 16 concurrent clients over 4 VMs, the plugin clock frozen so "open" lasts
// exactly as long as the test wants.
//
//  1. Tripping: the breaker opens after minimum_calls (10) failed outcomes;
//     the upstream sees at least those 10 and at most 10 + the requests
//     already admitted when the 10th outcome landed (< clients).
//  2. Open: 400 more requests from 16 clients: every one is 503
//     circuit_open from the filter, the upstream sees NONE.
//  3. After open_duration, still failing: 200 concurrent requests; the
//     upstream sees at most half_open_calls (3) probes across the 4 VMs; the
//     failed probe reopens the breaker.
//  4. After open_duration again, upstream healthy: the probes succeed, the
//     breaker closes and traffic flows again.
func TestBreakerProtectsFailingUpstream(t *testing.T) {
	up := newUpstream(t, failing(http.StatusServiceUnavailable))
	clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, devhost.Options{PluginConfig: []byte(breakerConfig), Clock: clock,
		Clusters: map[string]string{"upstream": up.URL}})
	const clients = 16

	// 1. Trip it: one request alone creates the breaker's shared-data record
	// (creation is the one write that is not a compare-and-swap, see
	// TestRateLimitCreationRace); then each client sends until it sees
	// circuit_open (bounded).
	var upstream503, sent atomic.Int64
	sent.Add(1)
	if r := e.do("GET", "/orders/0"); r.status != http.StatusServiceUnavailable || r.reason() != "" {
		t.Fatalf("first request: %v", r)
	}
	upstream503.Add(1)
	parallel(clients, func(int) {
		for i := 0; i < 50; i++ {
			sent.Add(1)
			r := e.do("GET", "/orders/1")
			if r.status == http.StatusServiceUnavailable && r.reason() == "circuit_open" {
				return
			}
			if r.status != http.StatusServiceUnavailable || r.reason() != "" {
				t.Errorf("tripping: unexpected %v", r)
				return
			}
			upstream503.Add(1)
		}
		t.Errorf("a client never saw circuit_open")
	})
	tripHits := up.count()
	if tripHits < 10 || tripHits >= 10+clients || tripHits != upstream503.Load() {
		t.Fatalf("tripping: upstream saw %d requests (clients got %d upstream 503s of %d sent); want 10 <= n < %d",
			tripHits, upstream503.Load(), sent.Load(), 10+clients)
	}
	if st := metric(e.h, metricdef.Name("breakwater", metricdef.CircuitBreakerState, "orders")); st != 1 {
		t.Fatalf("state gauge %d after tripping, want 1 (open)", st)
	}
	t.Logf("tripped after %d upstream calls (%d requests sent)", tripHits, sent.Load())

	// 2. Open: nothing reaches the upstream.
	var rejected atomic.Int64
	parallel(clients, func(int) {
		for i := 0; i < 25; i++ {
			r := e.do("GET", "/orders/2")
			if r.status != http.StatusServiceUnavailable || r.reason() != "circuit_open" ||
				r.header.Get("X-Breakwater-Policy") != "orders" {
				t.Errorf("open: unexpected %v", r)
				return
			}
			rejected.Add(1)
		}
	})
	if got := up.count() - tripHits; got != 0 || rejected.Load() != clients*25 {
		t.Fatalf("open: upstream saw %d requests (want 0); %d of %d rejected circuit_open", got, rejected.Load(), clients*25)
	}

	// 3. Half-open with the upstream still failing. The upstream holds every
	// request it gets until the rest of the burst has been answered, so no
	// probe outcome can land while the others arrive: exactly half_open_calls
	// (3) requests may pass, across the 4 VMs.
	clock.Advance(30 * time.Second)
	before := up.count()
	tl := probeBurst(t, e, up, 200, failing(http.StatusServiceUnavailable))
	if probes := up.count() - before; probes != 3 || tl["503 "] != 3 || tl["503 circuit_open"] != 197 {
		t.Fatalf("half-open: upstream saw %d requests, want exactly the 3 probes; responses %v", probes, tl)
	}
	if st := metric(e.h, metricdef.Name("breakwater", metricdef.CircuitBreakerState, "orders")); st != 1 {
		t.Fatalf("state gauge %d after failed probes, want 1 (open again)", st)
	}
	// Reopened: still nothing passes.
	before = up.count()
	parallel(clients, func(int) {
		if r := e.do("GET", "/orders/4"); r.reason() != "circuit_open" {
			t.Errorf("reopened: %v", r)
		}
	})
	if up.count() != before {
		t.Fatalf("reopened: upstream saw %d requests", up.count()-before)
	}

	// 4. Recovery: the upstream is healthy, the 3 probes succeed, it closes.
	clock.Advance(30 * time.Second)
	before = up.count()
	tl = probeBurst(t, e, up, 200, ok)
	if probes := up.count() - before; probes != 3 || tl["200 "] != 3 || tl["503 circuit_open"] != 197 {
		t.Fatalf("recovery half-open: upstream saw %d, responses %v; want exactly 3 probes admitted", probes, tl)
	}
	up.set(ok)
	// Once every probe succeeded the breaker is closed: all requests pass.
	rs := make([]result, 100)
	parallel(len(rs), func(i int) { rs[i] = e.do("GET", "/orders/6") })
	if tl := tally(rs); tl["200 "] != 100 {
		t.Fatalf("after recovery: %v, want 100 x 200", tl)
	}
	if st := metric(e.h, metricdef.Name("breakwater", metricdef.CircuitBreakerState, "orders")); st != 0 {
		t.Errorf("state gauge %d after recovery, want 0 (closed)", st)
	}
	// closed->open, open->half-open, half-open->open, open->half-open, half-open->closed.
	open, half, closed := metric(e.h, metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "orders", metricdef.LabelTo, "open")), metric(e.h, metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "orders", metricdef.LabelTo, "half_open")), metric(e.h, metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "orders", metricdef.LabelTo, "closed"))
	if open != 2 || half != 2 || closed != 1 {
		t.Errorf("transitions to open %d, half_open %d, closed %d; want 2, 2, 1", open, half, closed)
	}
	checkNoTraps(t, e.h)
}

// probeBurst sends n concurrent requests while the upstream holds every
// request it receives; once the n-k others are answered (k = the requests
// the upstream holds), the held ones are released and answered with then.
// It returns the tally of the n responses.
func probeBurst(t *testing.T, e *env, up *upstream, n int, then func(int64, http.ResponseWriter, *http.Request)) map[string]int {
	t.Helper()
	release := make(chan struct{})
	up.set(func(k int64, w http.ResponseWriter, r *http.Request) {
		<-release
		then(k, w, r)
	})
	before := up.count()
	rs := make([]result, n)
	var answered atomic.Int64
	done := make(chan struct{})
	go func() {
		parallel(n, func(i int) {
			rs[i] = e.do("GET", "/orders/probe")
			answered.Add(1)
		})
		close(done)
	}()
	// Wait (bounded) until every request is either answered or held upstream.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if answered.Load()+(up.count()-before) == int64(n) {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			<-done
			t.Fatalf("burst did not settle: %d answered, %d held upstream", answered.Load(), up.count()-before)
		}
	}
	close(release)
	<-done
	return tally(rs)
}
