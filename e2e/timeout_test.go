package e2e

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
)

// TestDeadlineShortensUpstreamTimeout: the policy's upstream timeout is 2s;
// the upstream takes 10s (it stops when the router gives up). A caller that
// has only 300ms left gets the router's 504 "upstream request timeout" after
// about 300ms, not 2s, and the upstream is told the shortened budget
// (x-envoy-expected-rq-timeout-ms <= 300).
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
// The only time check is a lower bound (no answer before the deadline),
// which a loaded machine cannot break; which timeout the router applied is
// read from the x-envoy-expected-rq-timeout-ms the upstream received.
func TestDeadlineShortensUpstreamTimeout(t *testing.T) {
	const cfg = `{"policies":[{"name":"api","timeout":{"request":"2s",
 "deadline":{"propagate":true,"min_remaining":"50ms"}}}]}`
	var mu sync.Mutex
	var expected []int
	up := newUpstream(t, nil)
	slowly := slow(10 * time.Second)
	up.set(func(n int64, w http.ResponseWriter, r *http.Request) {
		v, err := strconv.Atoi(r.Header.Get("x-envoy-expected-rq-timeout-ms"))
		if err != nil {
			v = -1
		}
		mu.Lock()
		expected = append(expected, v)
		mu.Unlock()
		slowly(n, w, r)
	})
	internal := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), InternalClients: true,
		Clusters: map[string]string{"upstream": up.URL}})
	external := newEnv(t, devhost.Options{PluginConfig: []byte(cfg),
		Clusters: map[string]string{"upstream": up.URL}})

	cases := []struct {
		name string
		e    *env
		kv   []string
		min  time.Duration
	}{
		{"internal-expected-rq-timeout", internal, []string{"x-envoy-expected-rq-timeout-ms", "300"}, 300 * time.Millisecond},
		{"external-grpc-timeout", external, []string{"grpc-timeout", "300m"}, 300 * time.Millisecond},
		{"external-expected-rq-timeout-stripped", external, []string{"x-envoy-expected-rq-timeout-ms", "300"}, 2 * time.Second},
	}
	rs := make([]result, len(cases))
	// The three calls run at the same time (the test waits ~2s once).
	parallel(len(cases), func(i int) { rs[i] = cases[i].e.do("GET", "/api", cases[i].kv...) })
	for i, c := range cases {
		r := rs[i]
		if r.status != http.StatusGatewayTimeout || r.reason() != "" || r.body != "upstream request timeout" {
			t.Errorf("%s: %v, want the router's 504 upstream request timeout", c.name, r)
		}
		if r.elapsed < c.min {
			t.Errorf("%s: answered after %v, before the %v timeout", c.name, r.elapsed, c.min)
		}
		t.Logf("%s: %d after %v", c.name, r.status, r.elapsed.Round(time.Millisecond))
	}
	mu.Lock()
	seen := append([]int(nil), expected...)
	mu.Unlock()
	short := 0
	for _, v := range seen {
		// The configured 2s, less the time the router took to send the
		// request: anything above the 300ms of a deadline, at most 2000.
		if v > 0 && v <= 300 {
			short++
		} else if v <= 300 || v > 2000 {
			t.Errorf("upstream saw x-envoy-expected-rq-timeout-ms %d: want <= 300 (deadline) or above it up to 2000 (configured)", v)
		}
	}
	if len(seen) != 3 || short != 2 {
		t.Errorf("upstream saw expected timeouts %v: want 2 requests with <= 300ms and 1 with the configured 2s", seen)
	}

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
// 2562048H (beyond it); the upstream takes 1.5s. Every call gets the
// router's 504 "upstream request timeout" (no 200 after 1.5s), and the
// upstream is told at most 300ms: no value lengthened the route timeout,
// overflowed or went negative.
func TestCallerCannotLengthenRouteTimeout(t *testing.T) {
	const cfg = `{"policies":[{"name":"api","timeout":{"deadline":{"propagate":true,"max":"300ms"}}}]}`
	var mu sync.Mutex
	var expected []string
	up := newUpstream(t, nil)
	slowly := slow(1500 * time.Millisecond)
	up.set(func(n int64, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		expected = append(expected, r.Header.Get("x-envoy-expected-rq-timeout-ms"))
		mu.Unlock()
		slowly(n, w, r)
	})
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), RouteTimeout: 300 * time.Millisecond,
		Clusters: map[string]string{"upstream": up.URL}})
	values := []string{"4000000S", "2562047H", "2562048H"}
	rs := make([]result, len(values))
	parallel(len(values), func(i int) { rs[i] = e.do("GET", "/api", "grpc-timeout", values[i]) })
	for i, r := range rs {
		if r.status != http.StatusGatewayTimeout || r.body != "upstream request timeout" {
			t.Errorf("grpc-timeout %s: %v, want the router's 504 upstream request timeout", values[i], r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(expected) != len(values) {
		t.Fatalf("upstream saw %d requests, want %d", len(expected), len(values))
	}
	for _, v := range expected {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 300 {
			t.Errorf("upstream told x-envoy-expected-rq-timeout-ms %q, want 1..300", v)
		}
	}
	checkNoTraps(t, e.h)
}
