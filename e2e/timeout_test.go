package e2e

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
)

// TestDeadlineShortensUpstreamTimeout: the policy's upstream timeout is 2s;
// the upstream never answers (it stops when the router gives up). A caller
// that has only 300ms left gets the router's 504 "upstream request timeout"
// once 300ms have passed, not 2s, and the upstream is told the shortened
// budget (x-envoy-expected-rq-timeout-ms: 300).
//
//   - internal caller (Options.InternalClients: Envoy keeps x-envoy-* from
//     internal clients) with x-envoy-expected-rq-timeout-ms: 300;
//   - external caller with grpc-timeout: 300m;
//   - external caller with x-envoy-expected-rq-timeout-ms: 300 on a host
//     that treats clients as external: Envoy strips the header before the
//     filter, so the configured 2s applies (the contrast);
//   - a caller with 20ms left, below min_remaining (50ms): 504
//     deadline_exceeded from the filter at once, no upstream call.
//
// The plugin and the router (RouterOnClock) run on one manual clock that
// only the test moves: the upstream reports each arrival, then the test
// advances 300ms (the two shortened requests end) and 1700ms more (the
// configured 2s ends). Nothing depends on the machine's speed.
func TestDeadlineShortensUpstreamTimeout(t *testing.T) {
	const cfg = `{"policies":[{"name":"api","timeout":{"request":"2s",
 "deadline":{"propagate":true,"min_remaining":"50ms"}}}]}`
	clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	expected := map[string]string{} // x-case -> x-envoy-expected-rq-timeout-ms
	arrived := make(chan struct{}, 8)
	up := newUpstream(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		expected[r.Header.Get("x-case")] = r.Header.Get("x-envoy-expected-rq-timeout-ms")
		mu.Unlock()
		arrived <- struct{}{}
		<-r.Context().Done() // never answers: the router's timeout ends it
	})
	internal := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), InternalClients: true,
		Clusters: map[string]string{"upstream": up.URL}, Clock: clock, RouterOnClock: true})
	external := newEnv(t, devhost.Options{PluginConfig: []byte(cfg),
		Clusters: map[string]string{"upstream": up.URL}, Clock: clock, RouterOnClock: true})

	cases := []struct {
		name string
		e    *env
		kv   []string
		want string // x-envoy-expected-rq-timeout-ms the upstream is told
	}{
		{"internal-expected-rq-timeout", internal, []string{"x-envoy-expected-rq-timeout-ms", "300"}, "300"},
		{"external-grpc-timeout", external, []string{"grpc-timeout", "300m"}, "300"},
		{"external-expected-rq-timeout-stripped", external, []string{"x-envoy-expected-rq-timeout-ms", "300"}, "2000"},
	}
	done := make([]chan result, len(cases))
	for i, c := range cases {
		done[i] = make(chan result, 1)
		go func(i int, kv []string) { done[i] <- cases[i].e.do("GET", "/api", kv...) }(i, append([]string{"x-case", c.name}, c.kv...))
	}
	for range cases {
		<-arrived
	}
	mu.Lock()
	for _, c := range cases {
		if v := expected[c.name]; v != c.want {
			t.Errorf("%s: upstream told x-envoy-expected-rq-timeout-ms %q, want %s", c.name, v, c.want)
		}
	}
	mu.Unlock()
	check := func(c int, r result) {
		if r.status != http.StatusGatewayTimeout || r.reason() != "" || r.body != "upstream request timeout" {
			t.Errorf("%s: %v, want the router's 504 upstream request timeout", cases[c].name, r)
		}
	}
	clock.Advance(300 * time.Millisecond) // the two shortened timeouts
	check(0, <-done[0])
	check(1, <-done[1])
	select {
	case r := <-done[2]:
		t.Errorf("%s: answered %v at 300ms, before its 2s timeout", cases[2].name, r)
	default:
	}
	clock.Advance(1700 * time.Millisecond) // the configured 2s
	check(2, <-done[2])

	// Too little budget left: rejected by the filter, nothing upstream.
	before := up.count()
	r := internal.do("GET", "/api", "x-envoy-expected-rq-timeout-ms", "20")
	if r.status != http.StatusGatewayTimeout || r.reason() != "deadline_exceeded" || r.header.Get("X-Breakwater-Policy") != "api" {
		t.Errorf("20ms left: %v, want 504 deadline_exceeded", r)
	}
	if up.count() != before {
		t.Errorf("20ms left: the upstream was called")
	}
	if n := metric(internal.h, metricdef.Name("breakwater", metricdef.RejectedTotal, "api", metricdef.LabelReason, "deadline_exceeded")); n != 1 {
		t.Errorf("rejected_total.deadline_exceeded %d, want 1", n)
	}
	// The histogram of effective timeouts saw the shortened one.
	found := false
	for _, m := range internal.h.Metrics() {
		if m.Name == metricdef.Name("breakwater", metricdef.TimeoutEffective, "api") {
			found = true
			if m.Count != 1 || m.Sum > 300 {
				t.Errorf("breakwater_timeout_effective: count %d sum %v, want the one request with <= 300ms", m.Count, m.Sum)
			}
		}
	}
	if !found {
		t.Error("no breakwater_timeout_effective histogram")
	}
	checkNoTraps(t, internal.h)
	checkNoTraps(t, external.h)
}

// TestCallerCannotLengthenRouteTimeout (issue 10 item 4): the route timeout
// is 300ms and the policy has no timeout.request, only deadline with
// propagate and max set to the route's 300ms. Callers send grpc-timeout
// 4000000S (46 days), 2562047H (just below time.Duration's range) and
// 2562048H (beyond it); the upstream never answers. The upstream is told
// exactly 300ms, and once the test's manual clock (plugin and router,
// RouterOnClock) has moved 300ms every call gets the router's 504
// "upstream request timeout": no value lengthened the route timeout,
// overflowed or went negative.
func TestCallerCannotLengthenRouteTimeout(t *testing.T) {
	const cfg = `{"policies":[{"name":"api","timeout":{"deadline":{"propagate":true,"max":"300ms"}}}]}`
	clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	var expected []string
	arrived := make(chan struct{}, 8)
	up := newUpstream(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		expected = append(expected, r.Header.Get("x-envoy-expected-rq-timeout-ms"))
		mu.Unlock()
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), RouteTimeout: 300 * time.Millisecond,
		Clusters: map[string]string{"upstream": up.URL}, Clock: clock, RouterOnClock: true})
	values := []string{"4000000S", "2562047H", "2562048H"}
	done := make(chan result, len(values))
	for _, v := range values {
		go func(v string) { done <- e.do("GET", "/api", "grpc-timeout", v) }(v)
	}
	for range values {
		<-arrived
	}
	mu.Lock()
	for _, v := range expected {
		if v != "300" {
			t.Errorf("upstream told x-envoy-expected-rq-timeout-ms %q, want 300", v)
		}
	}
	mu.Unlock()
	clock.Advance(300 * time.Millisecond)
	for range values {
		if r := <-done; r.status != http.StatusGatewayTimeout || r.body != "upstream request timeout" {
			t.Errorf("%v, want the router's 504 upstream request timeout", r)
		}
	}
	if up.count() != int64(len(values)) {
		t.Errorf("upstream saw %d requests, want %d", up.count(), len(values))
	}
	checkNoTraps(t, e.h)
}
