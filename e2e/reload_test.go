package e2e

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
)

const (
	reloadA = `{"policies":[{"name":"orders","match":{"path_prefix":"/orders"},
 "circuit_breaker":{"window":{"type":"count","size":10},"minimum_calls":5,"open_duration":"30s"}}]}`
	// B keeps the policy "orders" (the breaker's key) and changes the rest:
	// a threshold, a new rate limit block on it, a new policy.
	reloadB = `{"policies":[{"name":"orders","match":{"path_prefix":"/orders"},
 "rate_limit":{"limits":[{"name":"all","requests":1000000,"per":"1s"}]},
 "circuit_breaker":{"window":{"type":"count","size":10},"minimum_calls":5,"failure_rate_threshold":0.6,"open_duration":"30s"}},
 {"name":"other","match":{"path_prefix":"/other"},"timeout":{"request":"5s"}}]}`
)

// TestReloadKeepsBreakerState: a breaker opened under configuration A stays
// open after a reconfiguration (Host.Reconfigure, what `breakwater serve`
// does on SIGHUP and what Envoy does on a plugin config update: a new root
// context per VM) that keeps the policy, even while traffic is flowing
// during the reload; the breaker's record lives in shared data, which belongs
// to the vm_id, not to the root context.
//
//  1. A: the upstream fails, the breaker opens.
//  2. Reload to B while 8 clients keep sending: every response before,
//     during and after is 503 circuit_open, the upstream sees nothing; B is
//     in effect (its new policy answers, with its header).
//  3. Reload to B with another namespace: its breaker is a different record,
//     closed: traffic reaches the (now healthy) upstream. Back to B: open
//     again, nothing reaches the upstream.
//  4. After open_duration the probe succeeds and B's breaker closes: the
//     state machine carried on across the reloads.
func TestReloadKeepsBreakerState(t *testing.T) {
	up := newUpstream(t, failing(http.StatusInternalServerError))
	clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, devhost.Options{PluginConfig: []byte(reloadA), Clock: clock,
		Clusters: map[string]string{"upstream": up.URL}})

	// 1. Trip (sequentially: 5 failures at minimum_calls 5).
	for i := 0; i < 5; i++ {
		if r := e.do("GET", "/orders/1"); r.status != http.StatusInternalServerError || r.reason() != "" {
			t.Fatalf("tripping request %d: %v", i, r)
		}
	}
	if r := e.do("GET", "/orders/1"); r.reason() != "circuit_open" {
		t.Fatalf("after 5 failures: %v, want circuit_open", r)
	}
	if up.count() != 5 {
		t.Fatalf("upstream saw %d, want 5", up.count())
	}
	up.set(ok)

	// 2. Reload under traffic.
	var stop atomic.Bool
	var sent, bad atomic.Int64
	done := make(chan struct{})
	go func() {
		parallel(8, func(int) {
			for !stop.Load() {
				r := e.do("GET", "/orders/2")
				sent.Add(1)
				if r.status != http.StatusServiceUnavailable || r.reason() != "circuit_open" {
					if bad.Add(1) == 1 {
						t.Errorf("during reload: %v", r)
					}
				}
			}
		})
		close(done)
	}()
	for sent.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	if err := e.h.Reconfigure([]byte(reloadB)); err != nil {
		t.Fatalf("Reconfigure(B): %v", err)
	}
	for n := sent.Load(); sent.Load() < n+200; {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	<-done
	if up.count() != 5 || bad.Load() != 0 {
		t.Fatalf("around the reload: %d of %d responses not circuit_open, upstream saw %d more", bad.Load(), sent.Load(), up.count()-5)
	}
	if r := e.do("GET", "/other"); r.status != http.StatusOK || r.header.Get("X-Breakwater-Policy") != "other" {
		t.Fatalf("B's new policy: %v", r)
	}
	if up.count() != 6 {
		t.Fatalf("upstream saw %d, want 6", up.count())
	}

	// 3. Another namespace is another breaker; B's is still open.
	if err := e.h.Reconfigure([]byte(strings.Replace(reloadB, `{"policies"`, `{"namespace":"fresh","policies"`, 1))); err != nil {
		t.Fatalf("Reconfigure(namespace fresh): %v", err)
	}
	if r := e.do("GET", "/orders/3"); r.status != http.StatusOK {
		t.Fatalf("namespace fresh: %v, want 200 (a closed breaker)", r)
	}
	if err := e.h.Reconfigure([]byte(reloadB)); err != nil {
		t.Fatalf("Reconfigure(B again): %v", err)
	}
	before := up.count()
	if r := e.do("GET", "/orders/4"); r.reason() != "circuit_open" || up.count() != before {
		t.Fatalf("back to B: %v, want circuit_open without an upstream call", r)
	}

	// 4. The open period ends on schedule; the probe closes it.
	clock.Advance(30 * time.Second)
	for i := 0; i < 5; i++ {
		if r := e.do("GET", "/orders/5"); r.status != http.StatusOK {
			t.Fatalf("after open_duration, request %d: %v", i, r)
		}
	}
	if s := metric(e.h, metricdef.Name("breakwater", metricdef.CircuitBreakerState, "orders")); s != 0 {
		t.Errorf("state gauge %d, want 0 (closed)", s)
	}
	if bad := e.h.Reconfigure([]byte(`{"policies":[{"name":"orders","circuit_breaker":{"failure_rate_threshold":2}}]}`)); bad == nil {
		t.Errorf("an invalid configuration was accepted")
	}
	if r := e.do("GET", "/orders/6"); r.status != http.StatusOK || r.header.Get("X-Breakwater-Policy") != "orders" {
		t.Errorf("after a refused reload B still applies: %v", r)
	}
	checkNoTraps(t, e.h)
}
