package filter

import (
	"strconv"
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/metricdef"
)

func msHeader(t *testing.T, x *exchange, name string) int {
	t.Helper()
	v, err := strconv.Atoi(x.upstreamHeader(name))
	if err != nil {
		t.Fatalf("%s = %q", name, x.upstreamHeader(name))
	}
	return v
}

func TestScenariosRetry(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "router directives for GET, none for POST",
			config: `{"policies": [{"name": "svc", "retry": {"max_retries": 2, "retry_on": ["5xx", "reset", "retriable-status-codes"],
				"retriable_status_codes": [409, 503], "per_try_timeout": "500ms"}}]}`,
			run: func(t *testing.T, h *harness) {
				x := h.request("GET", "/")
				expectForwarded(t, x)
				if x.upstreamHeader("x-envoy-max-retries") != "2" || x.upstreamHeader("x-envoy-retry-on") != "5xx,reset,retriable-status-codes" ||
					x.upstreamHeader("x-envoy-retriable-status-codes") != "409,503" || x.upstreamHeader("x-envoy-upstream-rq-per-try-timeout-ms") != "500" {
					t.Fatalf("GET directives: %v", h.host.GetCurrentRequestHeaders(x.id))
				}
				y := h.request("POST", "/")
				expectForwarded(t, y)
				if y.upstreamHeader("x-envoy-max-retries") != "0" || y.upstreamHeader("x-envoy-retry-on") != "" {
					t.Fatalf("POST directives: %v", h.host.GetCurrentRequestHeaders(y.id))
				}
			},
		},
		{
			name:   "budget: retries stop when spent; unused grants are given back",
			config: `{"policies": [{"name": "svc", "retry": {"max_retries": 1, "budget": {"ratio": 0, "min_per_second": 2}}}]}`,
			run: func(t *testing.T, h *harness) {
				a, b := h.request("GET", "/"), h.request("GET", "/")
				if a.upstreamHeader("x-envoy-max-retries") != "1" || b.upstreamHeader("x-envoy-max-retries") != "1" {
					t.Fatal("first two requests should get a retry")
				}
				c := h.request("GET", "/")
				if c.upstreamHeader("x-envoy-max-retries") != "0" {
					t.Fatal("budget not enforced")
				}
				if h.counter(metricdef.Name("breakwater", metricdef.RetryBudgetExhaustedTotal, "svc")) != 1 {
					t.Fatal("budget_exhausted_total != 1")
				}
				a.respond("200", "x-envoy-attempt-count", "1") // no retry performed: refunded
				d := h.request("GET", "/")
				if d.upstreamHeader("x-envoy-max-retries") != "1" {
					t.Fatal("unused retry not given back")
				}
				b.respond("503", "x-envoy-attempt-count", "2") // retried: stays charged
				if h.request("GET", "/").upstreamHeader("x-envoy-max-retries") != "0" {
					t.Fatal("performed retry was refunded")
				}
				h.advance(1100 * time.Millisecond) // the sliding second moves on
				if h.request("GET", "/").upstreamHeader("x-envoy-max-retries") != "1" {
					t.Fatal("budget did not recover")
				}
			},
		},
		{
			name: "no retries while the breaker is half-open",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 1, "open_duration": "1s"},
				"retry": {"max_retries": 3}}]}`,
			run: func(t *testing.T, h *harness) {
				x := h.request("GET", "/")
				if x.upstreamHeader("x-envoy-max-retries") != "3" {
					t.Fatal("closed breaker: want 3 retries")
				}
				x.respond("500")
				h.advance(1100 * time.Millisecond)
				probe := h.request("GET", "/")
				expectForwarded(t, probe)
				if probe.upstreamHeader("x-envoy-max-retries") != "0" {
					t.Fatal("half-open probe got retries")
				}
				if h.counter(metricdef.Name("breakwater", metricdef.RetryBudgetExhaustedTotal, "svc")) != 1 {
					t.Fatal("suppressed retries not counted")
				}
			},
		},
	})
}

func TestScenariosTimeout(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name:   "static request timeout",
			config: `{"policies": [{"name": "svc", "timeout": {"request": "2s"}}]}`,
			run: func(t *testing.T, h *harness) {
				x := h.request("GET", "/")
				expectForwarded(t, x)
				if msHeader(t, x, "x-envoy-upstream-rq-timeout-ms") != 2000 {
					t.Fatal("timeout not 2000")
				}
				if x.upstreamHeader("x-envoy-expected-rq-timeout-ms") != "" {
					t.Fatal("propagated without propagate")
				}
			},
		},
		{
			name:   "caller deadline from x-envoy-expected-rq-timeout-ms and every grpc-timeout unit, propagated",
			config: `{"policies": [{"name": "svc", "timeout": {"request": "2s", "deadline": {"propagate": true, "min_remaining": "10ms"}}}]}`,
			run: func(t *testing.T, h *harness) {
				for _, c := range []struct {
					k, v   string
					lo, hi int
				}{
					{"x-envoy-expected-rq-timeout-ms", "500", 490, 500},
					{"grpc-timeout", "300m", 290, 300},
					{"grpc-timeout", "1S", 990, 1000},
					{"grpc-timeout", "1H", 2000, 2000},
					{"grpc-timeout", "1M", 2000, 2000},
					{"grpc-timeout", "400000u", 390, 400},
					{"grpc-timeout", "25000000n", 15, 25},
					{"grpc-timeout", "999999999n", 2000, 2000}, // 9 digits: invalid, ignored
				} {
					x := h.request("GET", "/", c.k, c.v)
					expectForwarded(t, x)
					got := msHeader(t, x, "x-envoy-upstream-rq-timeout-ms")
					if got < c.lo || got > c.hi {
						t.Fatalf("%s: %s: timeout %d, want [%d,%d]", c.k, c.v, got, c.lo, c.hi)
					}
					if msHeader(t, x, "x-envoy-expected-rq-timeout-ms") != got {
						t.Fatalf("propagated value differs")
					}
				}
			},
		},
		{
			name:   "budget below min_remaining fails fast with 504",
			config: `{"policies": [{"name": "svc", "timeout": {"request": "2s", "deadline": {"min_remaining": "100ms"}}}]}`,
			run: func(t *testing.T, h *harness) {
				expectReason(t, h.request("GET", "/", "x-envoy-expected-rq-timeout-ms", "50"), 504, "deadline_exceeded")
				expectReason(t, h.request("GET", "/", "grpc-timeout", "20m"), 504, "deadline_exceeded")
				expectForwarded(t, h.request("GET", "/", "grpc-timeout", "200m"))
				if h.counter(metricdef.Name("breakwater", metricdef.RejectedTotal, "svc", metricdef.LabelReason, "deadline_exceeded")) != 2 {
					t.Fatal("rejected_total.deadline_exceeded")
				}
			},
		},
		{
			name: "adaptive timeout: static until min_samples, then follows latency",
			config: `{"policies": [{"name": "svc", "timeout": {"request": "2s",
				"adaptive": {"quantile": 0.5, "multiplier": 2.0, "min": "10ms", "max": "5s", "min_samples": 5}}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 5; i++ {
					x := h.request("GET", "/")
					if msHeader(t, x, "x-envoy-upstream-rq-timeout-ms") != 2000 {
						t.Fatalf("request %d: static timeout expected", i)
					}
					h.advance(100 * time.Millisecond)
					x.respond("200")
				}
				x := h.request("GET", "/")
				got := msHeader(t, x, "x-envoy-upstream-rq-timeout-ms")
				if got < 180 || got > 240 {
					t.Fatalf("adaptive timeout %d ms, want about 2 × 100ms", got)
				}
			},
		},
	})
}
