package filter

import (
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/metricdef"
)

// TestScenariosCallerOnlyShortens: a caller's budget header can shorten the
// upstream timeout, never lengthen it, overflow it or make it negative
// (issue 10 item 4). Without timeout.request the bound is deadline.max
// (default 15s); with it, the request timeout. Unparseable values (more
// than 8 digits, a sign, no unit) are ignored and counted.
func TestScenariosCallerOnlyShortens(t *testing.T) {
	type want struct {
		k, v   string
		lo, hi int // the written x-envoy-upstream-rq-timeout-ms; 0,0: none written
	}
	check := func(t *testing.T, h *harness, cases []want) {
		t.Helper()
		for _, c := range cases {
			x := h.request("GET", "/", c.k, c.v)
			expectForwarded(t, x)
			if c.hi == 0 {
				if v := x.upstreamHeader("x-envoy-upstream-rq-timeout-ms"); v != "" {
					t.Fatalf("%s: %s: timeout %q written, want none", c.k, c.v, v)
				}
				continue
			}
			got := msHeader(t, x, "x-envoy-upstream-rq-timeout-ms")
			if got < c.lo || got > c.hi {
				t.Fatalf("%s: %s: timeout %d ms, want [%d,%d]", c.k, c.v, got, c.lo, c.hi)
			}
			if msHeader(t, x, "x-envoy-expected-rq-timeout-ms") != got {
				t.Fatalf("%s: %s: propagated value differs", c.k, c.v)
			}
		}
	}
	runScenarios(t, []scenario{
		{
			name:   "no request timeout: bounded by deadline.max (default 15s)",
			config: `{"policies": [{"name": "svc", "timeout": {"deadline": {"propagate": true}}}]}`,
			run: func(t *testing.T, h *harness) {
				check(t, h, []want{
					{"grpc-timeout", "4000000S", 15000, 15000},
					{"grpc-timeout", "2562047H", 15000, 15000},
					{"grpc-timeout", "2562048H", 15000, 15000},
					{"grpc-timeout", "99999999H", 15000, 15000},
					{"grpc-timeout", "200m", 190, 200},
					{"x-envoy-expected-rq-timeout-ms", "99999999999999999999999", 15000, 15000},
					{"grpc-timeout", "123456789S", 0, 0}, // 9 digits: ignored
					{"grpc-timeout", "-5S", 0, 0},
					{"grpc-timeout", "5", 0, 0},
					{"x-envoy-expected-rq-timeout-ms", "-1", 0, 0},
				})
				if n := h.counter(metricdef.Name("breakwater", metricdef.TimeoutDeadlineInvalidTotal, "svc")); n != 4 {
					t.Fatalf("invalid_total = %d, want 4", n)
				}
			},
		},
		{
			name:   "deadline.max set to the route timeout (300ms)",
			config: `{"policies": [{"name": "svc", "timeout": {"deadline": {"propagate": true, "max": "300ms"}}}]}`,
			run: func(t *testing.T, h *harness) {
				check(t, h, []want{
					{"grpc-timeout", "4000000S", 300, 300},
					{"grpc-timeout", "2562047H", 300, 300},
					{"grpc-timeout", "2562048H", 300, 300},
					{"grpc-timeout", "100m", 90, 100},
				})
			},
		},
		{
			name:   "request timeout 300ms bounds every caller",
			config: `{"policies": [{"name": "svc", "timeout": {"request": "300ms", "deadline": {"propagate": true, "max": "1h"}}}]}`,
			run: func(t *testing.T, h *harness) {
				check(t, h, []want{
					{"grpc-timeout", "4000000S", 300, 300},
					{"grpc-timeout", "2562047H", 300, 300},
					{"grpc-timeout", "2562048H", 300, 300},
					{"x-envoy-expected-rq-timeout-ms", "9223372036854775807", 300, 300},
					{"grpc-timeout", "100m", 90, 100},
				})
			},
		},
	})
}

// TestScenariosOnlyUpstreamTimeIsLatency (issue 10 item 7): a 300ms fault
// delay on requests carrying the fault header is not upstream time. Four
// delayed requests answered at once (about 2ms after their release) leave
// the breaker (slow_call_duration 100ms, rate 0.5 over 4 calls) closed
// for everyone, and the adaptive timeout learns the upstream's latency,
// not the delay. The same for a 300ms bulkhead queue wait and a 300ms
// leaky-bucket shaping delay.
func TestScenariosOnlyUpstreamTimeIsLatency(t *testing.T) {
	runScenarios(t, []scenario{{
		name: "fault delay is not a slow call nor an adaptive sample",
		config: `{"policies": [{"name": "svc",
			"fault": {"delay": {"percent": 100, "duration": "300ms"}, "only_with_header": "x-fault"},
			"circuit_breaker": {"window": {"type": "count", "size": 4}, "minimum_calls": 4,
				"slow_call_duration": "100ms", "slow_call_rate_threshold": 0.5, "open_duration": "5m"},
			"timeout": {"request": "2s", "adaptive": {"quantile": 0.5, "multiplier": 2.0, "min": "10ms", "max": "5s", "min_samples": 4}}}]}`,
		run: func(t *testing.T, h *harness) {
			for i := 0; i < 4; i++ {
				x := h.request("GET", "/", "x-fault", "1")
				if x.forwarded() {
					t.Fatalf("request %d: not delayed by the fault", i)
				}
				h.advance(310 * time.Millisecond)
				if !x.forwarded() {
					t.Fatalf("request %d: not released after the delay", i)
				}
				h.advance(2 * time.Millisecond)
				x.respond("200")
			}
			for i := 0; i < 8; i++ {
				x := h.request("GET", "/")
				expectForwarded(t, x)
				if got := msHeader(t, x, "x-envoy-upstream-rq-timeout-ms"); got > 100 {
					t.Fatalf("adaptive timeout %d ms: learned the fault delay", got)
				}
				x.respond("200")
			}
			if hasLog(h, "to=open") {
				t.Fatalf("breaker opened: %q", h.host.GetInfoLogs())
			}
		},
	}, {
		name: "bulkhead queue wait is not a slow call",
		config: `{"policies": [{"name": "svc",
			"circuit_breaker": {"window": {"type": "count", "size": 2}, "minimum_calls": 2,
				"slow_call_duration": "100ms", "slow_call_rate_threshold": 1.0, "open_duration": "5m"},
			"bulkhead": {"max_concurrent": 1, "queue": {"max_size": 1, "max_wait": "5s"}}}]}`,
		run: func(t *testing.T, h *harness) {
			a := h.request("GET", "/")
			expectForwarded(t, a)
			b := h.request("GET", "/")
			if !b.paused() {
				t.Fatal("second request not queued")
			}
			h.advance(300 * time.Millisecond)
			a.respond("200") // slow: 300ms upstream
			h.advance(5 * time.Millisecond)
			if !b.forwarded() {
				t.Fatal("queued request not released")
			}
			h.advance(2 * time.Millisecond)
			b.respond("200") // fast upstream after a 300ms queue wait
			expectForwarded(t, h.request("GET", "/"))
			if hasLog(h, "to=open") {
				t.Fatalf("breaker opened: %q", h.host.GetInfoLogs())
			}
		},
	}, {
		name: "leaky-bucket shaping delay is not a slow call",
		config: `{"policies": [{"name": "svc",
			"rate_limit": {"limits": [{"name": "s", "algorithm": "leaky_bucket", "requests": 10, "per": "3s", "burst": 1, "max_delay": "1s"}]},
			"circuit_breaker": {"window": {"type": "count", "size": 2}, "minimum_calls": 2,
				"slow_call_duration": "100ms", "slow_call_rate_threshold": 0.5, "open_duration": "5m"}}]}`,
		run: func(t *testing.T, h *harness) {
			a := h.request("GET", "/")
			expectForwarded(t, a)
			b := h.request("GET", "/")
			if !b.paused() {
				t.Fatal("second request not shaped")
			}
			h.advance(2 * time.Millisecond)
			a.respond("200")
			h.advance(310 * time.Millisecond)
			if !b.forwarded() {
				t.Fatal("shaped request not released")
			}
			h.advance(2 * time.Millisecond)
			b.respond("200")
			h.advance(300 * time.Millisecond) // the next slot of the bucket
			expectForwarded(t, h.request("GET", "/"))
			if hasLog(h, "to=open") {
				t.Fatalf("breaker opened: %q", h.host.GetInfoLogs())
			}
		},
	}})
}

// TestScenariosClientOwnHeadersRemoved (issue 10 item 8): a client's
// x-breakwater-* request headers never reach the upstream, on requests no
// policy matches as on matched ones (also when the filter writes several
// headers at once: retry directives), while a header the configuration
// names (fault.only_with_header) is still read.
func TestScenariosClientOwnHeadersRemoved(t *testing.T) {
	runScenarios(t, []scenario{{
		name: "x-breakwater-* removed, matched or not",
		config: `{"policies": [
			{"name": "game", "match": {"path_prefix": "/game"}, "fault": {"abort": {"percent": 100}, "only_with_header": "x-breakwater-fault"}},
			{"name": "api", "match": {"path_prefix": "/api"}, "retry": {"max_retries": 1}}]}`,
		run: func(t *testing.T, h *harness) {
			for _, path := range []string{"/other", "/api/x"} {
				x := h.request("GET", path, "x-breakwater-policy", "forged", "X-Breakwater-Stale", "true",
					"x-breakwater-tier", "premium", "x-user", "u1")
				expectForwarded(t, x)
				up := x.h.host.GetCurrentRequestHeaders(x.id)
				for _, kv := range up {
					if len(kv[0]) >= 13 && equalFoldASCII(kv[0][:13], "x-breakwater-") && !(path == "/api/x" && kv[0] == "x-breakwater-policy" && kv[1] == "api") {
						t.Fatalf("%s: upstream got %s: %s", path, kv[0], kv[1])
					}
				}
				if get(up, "x-user") != "u1" {
					t.Fatalf("%s: other headers lost: %v", path, up)
				}
				want := ""
				if path == "/api/x" {
					want = "api"
				}
				if got := get(up, "x-breakwater-policy"); got != want {
					t.Fatalf("%s: x-breakwater-policy %q, want %q", path, got, want)
				}
			}
			expectForwarded(t, h.request("GET", "/game"))
			expectReason(t, h.request("GET", "/game", "x-breakwater-fault", "1"), 503, "fault_abort")
		},
	}})
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// TestScenariosOneSpellingPerResource (issue 10 item 3): every spelling of
// "Why" item 3 reaches the policy of the resource it names, natively and in
// the .wasm. want is the policy that applies ("" none), status the local
// answer (0: forwarded).
func TestScenariosOneSpellingPerResource(t *testing.T) {
	const cfg = `{"policies": [
		{"name": "keep", "match": {"path_prefix": "/files", "escaped_slashes": "keep"}},
		{"name": "exact", "match": {"path_exact": "/orders", "methods": ["PUT"]}},
		{"name": "prefix", "match": {"path_prefix": "/orders"}},
		{"name": "host", "match": {"authority": "orders.example.com"}},
		{"name": "icase", "match": {"path_prefix": "/admin", "ignore_case": true}},
		{"name": "rl", "match": {"path_prefix": "/items"},
		 "rate_limit": {"limits": [{"name": "per-path", "key": ["path"], "requests": 1, "per": "1h"}]}}]}`
	type req struct {
		method, path, authority, scheme string
		want                            string
		status                          int
	}
	send := func(h *harness, r req) *exchange {
		auth := r.authority
		if auth == "" {
			auth = "svc.local"
		}
		scheme := r.scheme
		if scheme == "" {
			scheme = "http"
		}
		id := h.host.InitializeHttpContext()
		a := h.host.CallOnRequestHeaders(id, [][2]string{{":method", r.method}, {":path", r.path},
			{":authority", auth}, {":scheme", scheme}}, true)
		return &exchange{h: h, id: id, action: a}
	}
	cases := []req{
		// path_prefix /orders
		{"GET", "/orders", "", "", "prefix", 0},
		{"GET", "/%6Frders", "", "", "prefix", 0},
		{"GET", "//orders", "", "", "prefix", 0},
		{"GET", "/./orders", "", "", "prefix", 0},
		{"GET", "/x/../orders", "", "", "prefix", 0},
		{"GET", "/%2E%2E/orders/1?q=/x", "", "", "prefix", 0},
		{"GET", "/a/..;/orders", "", "", "prefix", 0},
		{"GET", "/order", "", "", "", 0},
		// path_exact /orders (PUT): a trailing slash and ;params are not significant
		{"PUT", "/orders", "", "", "exact", 0},
		{"PUT", "/orders/", "", "", "exact", 0},
		{"PUT", "/orders;a=b", "", "", "exact", 0},
		{"PUT", "/%6Frders", "", "", "exact", 0},
		{"PUT", "//orders/./", "", "", "exact", 0},
		{"PUT", "/orders/1", "", "", "prefix", 0},
		// authority orders.example.com
		{"GET", "/", "orders.example.com", "", "host", 0},
		{"GET", "/", "orders.example.com.", "", "host", 0},
		{"GET", "/", "orders.example.com.:80", "", "host", 0},
		{"GET", "/", "ORDERS.Example.com:80", "", "host", 0},
		{"GET", "/", "orders.example.com:443", "https", "host", 0},
		{"GET", "/", "orders.example.com.evil", "", "", 0},
		// ignore_case
		{"GET", "/admin/x", "", "", "icase", 0},
		{"GET", "/ADMIN/x", "", "", "icase", 0},
		{"GET", "/%41dmin", "", "", "icase", 0},
		// encoded separators: never decoded; kept by "keep", refused by the
		// first policy with a path condition and the default "reject"
		{"GET", "/files/a%2Fb", "", "", "keep", 0},
		{"GET", "/orders%2F..%2Fadmin", "", "", "exact", 400},
		{"GET", "/x%5C..%5Corders", "", "", "exact", 400},
	}
	runScenarios(t, []scenario{{
		name:   "variants of one resource match one policy",
		config: cfg,
		run: func(t *testing.T, h *harness) {
			for _, c := range cases {
				x := send(h, c)
				if c.status != 0 {
					if x.status() != c.status || x.localHeader("x-breakwater-reason") != "escaped_slash" || x.localHeader("x-breakwater-policy") != c.want {
						t.Fatalf("%s %s: status %d reason %q policy %q, want %d escaped_slash %q", c.method, c.path,
							x.status(), x.localHeader("x-breakwater-reason"), x.localHeader("x-breakwater-policy"), c.status, c.want)
					}
					continue
				}
				if !x.forwarded() {
					t.Fatalf("%s %s %s: not forwarded: %d %q", c.method, c.path, c.authority, x.status(), x.localHeader("x-breakwater-reason"))
				}
				if got := x.upstreamHeader("x-breakwater-policy"); got != c.want {
					t.Fatalf("%s %s (authority %q): policy %q, want %q", c.method, c.path, c.authority, got, c.want)
				}
			}
			if n := h.counter(metricdef.Name("breakwater", metricdef.RejectedTotal, "exact", metricdef.LabelReason, "escaped_slash")); n != 2 {
				t.Fatalf("rejected_total.escaped_slash = %d, want 2", n)
			}
			// path keys: one key per resource, whatever the spelling.
			expectForwarded(t, h.request("GET", "/items/1"))
			for _, p := range []string{"/items/%31", "/items/1/", "/items/1?x=2", "//items/./1", "/items/1;v=2"} {
				expectRejected(t, h.request("GET", p), "rl")
			}
			expectForwarded(t, h.request("GET", "/items/2"))
		},
	}})
}
