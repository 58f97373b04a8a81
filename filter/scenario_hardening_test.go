package filter

import (
	"testing"
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
				if n := h.counter("breakwater.svc.timeout.deadline.invalid_total"); n != 4 {
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
