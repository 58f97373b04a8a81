package filter

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/metricdef"
)

func expectOpen(t *testing.T, x *exchange) {
	t.Helper()
	if x.status() != 503 || x.localHeader("x-breakwater-reason") != "circuit_open" || x.localHeader("x-breakwater-policy") != "svc" {
		t.Fatalf("want 503 circuit_open, got status %d reason %q", x.status(), x.localHeader("x-breakwater-reason"))
	}
	x.end()
}

// call sends one request that must be forwarded and answers it with status.
func call(t *testing.T, h *harness, status string, kv ...string) {
	t.Helper()
	x := h.request("GET", "/", kv...)
	expectForwarded(t, x)
	x.respond(status)
}

func (h *harness) gauge(name string) uint64 {
	v, err := h.host.GetGaugeMetric(name)
	if err != nil {
		h.t.Fatalf("gauge %s: %v", name, err)
	}
	return v
}

func hasLog(h *harness, sub string) bool {
	for _, l := range h.host.GetInfoLogs() {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func TestScenariosBreaker(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "opens on failure rate, rejects with 503 and headers while open",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {
				"window": {"type": "count", "size": 10}, "minimum_calls": 4, "failure_rate_threshold": 0.5, "open_duration": "5m"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "200")
				call(t, h, "500")
				call(t, h, "200") // 1 failure in 3 calls: below minimum_calls
				call(t, h, "503") // 2 of 4 = 0.5 >= threshold: opens
				for i := 0; i < 3; i++ {
					expectOpen(t, h.request("GET", "/"))
				}
				if h.gauge(metricdef.Name("breakwater", metricdef.CircuitBreakerState, "svc")) != 1 {
					t.Fatal("state gauge is not 1 (open)")
				}
				if h.counter(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "open")) != 1 || h.counter(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "closed")) != 0 {
					t.Fatal("transitions_total != 1")
				}
				if h.counter(metricdef.Name("breakwater", metricdef.RejectedTotal, "svc", metricdef.LabelReason, "circuit_open")) != 3 {
					t.Fatal("rejected_total.circuit_open != 3")
				}
				if !hasLog(h, "policy=svc") || !hasLog(h, "from=closed to=open failure_rate=0.500") {
					t.Fatalf("no transition log line: %q", h.host.GetInfoLogs())
				}
			},
		},
		{
			name: "failure_on statuses, reset and connect failure from response flags",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {
				"window": {"type": "count", "size": 10}, "minimum_calls": 3, "failure_rate_threshold": 1.0,
				"failure_on": {"statuses": [418]}, "open_duration": "5m"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500") // not in statuses
				call(t, h, "418")
				call(t, h, "418")
				call(t, h, "418") // last 3 failures but rate 3/4 < 1.0
				expectForwarded(t, h.request("GET", "/"))
			},
		},
		{
			name: "reset, timeout and connect failure read from response.flags",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 2, "open_duration": "5m",
				"failure_on": {"statuses": [418], "reset": true, "timeout": false, "connect_failure": true}}}]}`,
			run: func(t *testing.T, h *harness) {
				flags := func(f uint64) {
					b := make([]byte, 8)
					binary.LittleEndian.PutUint64(b, f)
					if err := h.host.SetProperty([]string{"response", "flags"}, b); err != nil {
						t.Fatal(err)
					}
				}
				flags(0x4) // UT: timeout, not a failure here
				call(t, h, "504")
				call(t, h, "504")
				expectForwarded(t, h.request("GET", "/"))
				flags(0x20) // UF: connect failure
				call(t, h, "503")
				flags(0x10) // UR: reset
				call(t, h, "503")
				expectOpen(t, h.request("GET", "/"))
			},
		},
		{
			name:   "opens on consecutive failures",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 3, "open_duration": "5m"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500")
				call(t, h, "500")
				call(t, h, "200") // resets the run
				call(t, h, "502")
				call(t, h, "502")
				expectForwarded(t, h.request("GET", "/"))
				call(t, h, "504")
				expectOpen(t, h.request("GET", "/"))
			},
		},
		{
			name: "opens on slow calls",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"window": {"type": "count", "size": 4},
				"minimum_calls": 4, "slow_call_duration": "50ms", "slow_call_rate_threshold": 0.5, "open_duration": "5m"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "200")
				call(t, h, "200")
				for i := 0; i < 2; i++ {
					x := h.request("GET", "/")
					expectForwarded(t, x)
					h.advance(100 * time.Millisecond)
					x.respond("200")
				}
				expectOpen(t, h.request("GET", "/"))
				if !hasLog(h, "slow_rate=0.500") {
					t.Fatalf("log lacks slow rate: %q", h.host.GetInfoLogs())
				}
			},
		},
		{
			name:   "half-open: exactly one probe; success closes",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 1, "open_duration": "1s"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500")
				expectOpen(t, h.request("GET", "/"))
				h.advance(1100 * time.Millisecond)
				probe := h.request("GET", "/")
				expectForwarded(t, probe)
				expectOpen(t, h.request("GET", "/")) // only one probe
				if h.gauge(metricdef.Name("breakwater", metricdef.CircuitBreakerState, "svc")) != 2 {
					t.Fatal("state gauge is not 2 (half-open)")
				}
				probe.respond("200")
				if h.gauge(metricdef.Name("breakwater", metricdef.CircuitBreakerState, "svc")) != 0 {
					t.Fatal("state gauge is not 0 (closed)")
				}
				call(t, h, "200")
				call(t, h, "200")
			},
		},
		{
			name: "half-open: failed probe reopens for a longer open duration",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 1,
				"open_duration": "1s", "open_backoff": 3.0, "max_open_duration": "1m"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500")
				h.advance(1100 * time.Millisecond)
				call(t, h, "500") // the probe fails: open for 3s now
				h.advance(1100 * time.Millisecond)
				expectOpen(t, h.request("GET", "/"))
				h.advance(2000 * time.Millisecond)
				call(t, h, "200") // probe after 3.2s succeeds
				call(t, h, "200")
				open, half, closed := h.counter(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "open")), h.counter(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "half_open")), h.counter(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "closed"))
				if open != 2 || half != 2 || closed != 1 {
					t.Fatalf("transitions to open %d, half_open %d, closed %d; want 2, 2, 1 (open, half, open, half, closed)", open, half, closed)
				}
			},
		},
		{
			name:   "a probe whose stream ends without a response does not close the breaker",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 1, "open_duration": "1s"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500")
				h.advance(1100 * time.Millisecond)
				probe := h.request("GET", "/")
				expectForwarded(t, probe)
				probe.end() // reset: no outcome
				if h.gauge(metricdef.Name("breakwater", metricdef.CircuitBreakerState, "svc")) == 0 {
					t.Fatal("closed by a probe without outcome")
				}
				// Its probe slot is free again: the next request probes.
				call(t, h, "200")
				if h.gauge(metricdef.Name("breakwater", metricdef.CircuitBreakerState, "svc")) != 0 {
					t.Fatal("not closed after a successful probe")
				}
			},
		},
		{
			name: "half-open: a slow probe holds its place until half_open_max_wait (derived from timeout.request)",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 1, "open_duration": "1s"},
				"timeout": {"request": "3s"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500")
				h.advance(1100 * time.Millisecond)
				probe := h.request("GET", "/")
				expectForwarded(t, probe)
				h.advance(1500 * time.Millisecond) // past open_duration, within the request timeout
				expectOpen(t, h.request("GET", "/"))
				probe.respond("200") // slow, but it reports: closes
				if h.gauge(metricdef.Name("breakwater", metricdef.CircuitBreakerState, "svc")) != 0 {
					t.Fatal("not closed by the slow probe")
				}
				call(t, h, "200")

				// A probe that never reports (its worker vanished) is re-armed
				// after half_open_max_wait (3s here).
				call(t, h, "500")
				h.advance(1100 * time.Millisecond)
				lost := h.request("GET", "/")
				expectForwarded(t, lost)
				h.advance(2500 * time.Millisecond)
				expectOpen(t, h.request("GET", "/"))
				h.advance(600 * time.Millisecond)
				call(t, h, "200") // a new probe: closes
				if h.gauge(metricdef.Name("breakwater", metricdef.CircuitBreakerState, "svc")) != 0 {
					t.Fatal("lost probe not re-armed after half_open_max_wait")
				}
				lost.respond("500") // stale generation: ignored
				call(t, h, "200")
			},
		},
		{
			name:   "observe mode never rejects",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 1, "open_duration": "5m", "mode": "observe"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500")
				for i := 0; i < 3; i++ {
					call(t, h, "500")
				}
				if h.gauge(metricdef.Name("breakwater", metricdef.CircuitBreakerState, "svc")) != 1 {
					t.Fatal("observe mode did not record the open state")
				}
				if h.counter(metricdef.Name("breakwater", metricdef.RejectedTotal, "svc", metricdef.LabelReason, "circuit_open")) != 0 {
					t.Fatal("observe mode rejected")
				}
			},
		},
		{
			name:   "forced_open always rejects",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"mode": "forced_open"}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 3; i++ {
					expectOpen(t, h.request("GET", "/"))
				}
			},
		},
		{
			name: "local views: a VM's own successes count at its next failure or tick; a success that can open it is reported at once",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"key": ["header:x-user"],
				"window": {"type": "count", "size": 10}, "minimum_calls": 4, "failure_rate_threshold": 0.5, "open_duration": "5m"}}]}`,
			run: func(t *testing.T, h *harness) {
				// a: 2 successes (counted locally), a tick, 2 failures: 2 of 4 opens.
				call(t, h, "200", "x-user", "a")
				call(t, h, "200", "x-user", "a")
				h.advance(20 * time.Millisecond)
				call(t, h, "500", "x-user", "a")
				call(t, h, "500", "x-user", "a")
				expectOpen(t, h.request("GET", "/", "x-user", "a"))
				// b: 1 success, then 2 failures with no tick: the failure
				// carries the success: 2 of 3 calls, below minimum_calls...
				call(t, h, "200", "x-user", "b")
				call(t, h, "500", "x-user", "b")
				call(t, h, "500", "x-user", "b")
				// ...and the success that makes 4 calls opens it at once.
				call(t, h, "200", "x-user", "b")
				expectOpen(t, h.request("GET", "/", "x-user", "b"))
				// c: healthy, never opens.
				for range 20 {
					call(t, h, "200", "x-user", "c")
				}
				h.advance(20 * time.Millisecond)
				call(t, h, "200", "x-user", "c")
				if n := h.counter(metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "svc", metricdef.LabelTo, "open")); n != 2 {
					t.Fatalf("transitions to open %d, want 2", n)
				}
			},
		},
		{
			name:   "keyed breakers are independent",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"key": ["header:x-backend"], "consecutive_failures": 1, "open_duration": "5m"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500", "x-backend", "a")
				expectOpen(t, h.request("GET", "/", "x-backend", "a"))
				call(t, h, "200", "x-backend", "b")
			},
		},
		{
			name: "fallback: static body for circuit_open, upstream_failure replaced",
			config: `{"policies": [{"name": "svc",
				"circuit_breaker": {"consecutive_failures": 2, "open_duration": "5m"},
				"fallback": {"on": ["circuit_open", "upstream_failure"], "status": 200,
					"headers": {"content-type": "application/json"}, "body": "{\"degraded\":true}"}}]}`,
			run: func(t *testing.T, h *harness) {
				x := h.request("GET", "/")
				expectForwarded(t, x)
				x.respond("502")
				l := x.local()
				if l == nil || l.StatusCode != 200 || string(l.Data) != `{"degraded":true}` ||
					get(l.Headers, "x-breakwater-reason") != "upstream_failure" || get(l.Headers, "content-type") != "application/json" {
					t.Fatalf("upstream failure not replaced: %+v", l)
				}
				call(t, h, "200")
				call(t, h, "500")
				call(t, h, "500")
				y := h.request("GET", "/")
				if y.status() != 200 || string(y.local().Data) != `{"degraded":true}` || y.localHeader("x-breakwater-reason") != "circuit_open" {
					t.Fatalf("circuit_open fallback: %d %+v", y.status(), y.local())
				}
				if n := h.counter(metricdef.Name("breakwater", metricdef.FallbackServedTotal, "svc")); n != 4 {
					t.Fatalf("fallback.served_total %d, want 4", n)
				}
			},
		},
		{
			name: "fallback: stale response served while young, then expired",
			config: `{"policies": [{"name": "svc",
				"circuit_breaker": {"consecutive_failures": 1, "open_duration": "5m"},
				"fallback": {"on": ["circuit_open"], "body": "static", "stale": {"max_age": "2s", "max_body_bytes": 64}}}]}`,
			run: func(t *testing.T, h *harness) {
				x := h.request("GET", "/items?page=1")
				expectForwarded(t, x)
				h.host.CallOnResponseHeaders(x.id, [][2]string{{":status", "200"}, {"content-type", "text/plain"}}, false)
				h.host.CallOnResponseBody(x.id, []byte("fresh "), false)
				h.host.CallOnResponseBody(x.id, []byte("items"), true)
				x.end()
				call(t, h, "500") // opens (path "/")
				y := h.request("GET", "/items?page=1")
				l := y.local()
				if l == nil || l.StatusCode != 200 || string(l.Data) != "fresh items" ||
					get(l.Headers, "x-breakwater-stale") != "true" || get(l.Headers, "content-type") != "text/plain" {
					t.Fatalf("stale not served: %+v", l)
				}
				if age, err := strconv.Atoi(get(l.Headers, "age")); err != nil || age > 1 {
					t.Fatalf("age %q", get(l.Headers, "age"))
				}
				// another path has no stale copy: static fallback
				z := h.request("GET", "/items?page=2")
				if z.local() == nil || string(z.local().Data) != "static" || z.localHeader("x-breakwater-stale") != "" {
					t.Fatalf("page 2: %+v", z.local())
				}
				h.advance(2100 * time.Millisecond)
				w := h.request("GET", "/items?page=1")
				if w.local() == nil || string(w.local().Data) != "static" {
					t.Fatalf("expired stale served: %+v", w.local())
				}
			},
		},
	})
}
