package filter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/breakwater/breakwater/internal/metricdef"
)

func TestScenariosCore(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "first matching policy applies, unmatched passes untouched",
			config: `{"policies": [
				{"name": "orders-get", "match": {"path_prefix": "/orders", "methods": ["GET"]}},
				{"name": "orders-any", "match": {"path_exact": "/orders/new"}},
				{"name": "tenant", "match": {"path_regex": "/t/[0-9]+", "authority": "svc.local",
					"headers": [{"name": "x-tenant", "exact": "acme"}, {"name": "x-env", "prefix": "pro"}, {"name": "x-debug", "present": true}]}}
			]}`,
			run: func(t *testing.T, h *harness) {
				cases := []struct {
					method, path string
					kv           []string
					want         string
				}{
					{"GET", "/orders/1?x=1", nil, "orders-get"},
					{"POST", "/orders/new", nil, "orders-any"},
					{"GET", "/orders/new", nil, "orders-get"}, // first match wins
					{"POST", "/orders/1", nil, ""},
					{"GET", "/t/42", []string{"x-tenant", "acme", "x-env", "prod", "x-debug", ""}, "tenant"},
					{"GET", "/t/42?q=1", []string{"x-tenant", "acme", "x-env", "prod", "x-debug", "1"}, "tenant"},
					{"GET", "/t/42", []string{"x-tenant", "acme", "x-env", "dev", "x-debug", "1"}, ""},
					{"GET", "/t/42", []string{"x-tenant", "acme", "x-env", "prod"}, ""},
					{"GET", "/t/4x", []string{"x-tenant", "acme", "x-env", "prod", "x-debug", "1"}, ""},
					{"GET", "/other", nil, ""},
				}
				for _, c := range cases {
					x := h.request(c.method, c.path, c.kv...)
					if !x.forwarded() {
						t.Fatalf("%s %s: not forwarded (status %d)", c.method, c.path, x.status())
					}
					if got := x.upstreamHeader("x-breakwater-policy"); got != c.want {
						t.Errorf("%s %s %v: policy %q, want %q", c.method, c.path, c.kv, got, c.want)
					}
					x.respond("200")
					if c.want != "" && x.responseHeader("x-breakwater-policy") != c.want {
						t.Errorf("%s %s: response lacks x-breakwater-policy", c.method, c.path)
					}
				}
				// A client cannot forge the header on a matched request.
				x := h.request("GET", "/orders/9", "x-breakwater-policy", "forged")
				n := 0
				for _, kv := range h.host.GetCurrentRequestHeaders(x.id) {
					if kv[0] == "x-breakwater-policy" {
						n++
						if kv[1] != "orders-get" {
							t.Fatalf("x-breakwater-policy %q upstream", kv[1])
						}
					}
				}
				if n != 1 || x.upstreamHeader(":path") != "/orders/9" || x.upstreamHeader(":authority") != "svc.local" {
					t.Fatalf("upstream headers %v", h.host.GetCurrentRequestHeaders(x.id))
				}
				if n := h.counter(metricdef.Name("breakwater", metricdef.RequestsTotal, "orders-get")); n != 3 {
					t.Errorf("orders-get requests_total = %d, want 3", n)
				}
			},
		},
	})
}

// TestPluginStartFailsOnBadConfig: invalid configuration fails the start with
// exactly one critical log line naming the path and the reason; never a panic.
func TestPluginStartFailsOnBadConfig(t *testing.T) {
	cases := []struct{ config, want string }{
		{``, "breakwater: config: "},
		{`{"policies": [{"name": "a", "circuit_breaker": {"failure_rate_threshold": 1.5}}]}`,
			"breakwater: config: policies[0].circuit_breaker.failure_rate_threshold: must be in (0,1], got 1.5"},
		{`{"policies": [{"name": "a", "bogus": 1}]}`, "policies[0].bogus"},
		{`{"policies": [{"name": "a", "rate_limit": {"limits": [{"name": "l", "requests": -1, "per": "1s"}]}}]}`, "policies[0].rate_limit.limits[0].requests"},
		{`[1,2`, "breakwater: config: "},
	}
	for _, mode := range modes() {
		for i, c := range cases {
			t.Run(fmt.Sprintf("%s/%d", mode, i), func(t *testing.T) {
				h, ok := startHarness(t, mode, c.config)
				logs := h.host.GetCriticalLogs()
				if ok {
					t.Errorf("%q started", c.config)
				} else if len(logs) != 1 || !strings.Contains(logs[0], c.want) {
					t.Errorf("%q: critical logs %q, want one containing %q", c.config, logs, c.want)
				}
			})
		}
	}
}

// TestConfigBoundsMatchPatterns: the largest values the configuration
// accepts are ones the patterns accept too, so a valid configuration never
// fails at start (bulkhead record size, breaker probe slots).
func TestConfigBoundsMatchPatterns(t *testing.T) {
	for _, cfg := range []string{
		`{"policies": [{"name": "a", "bulkhead": {"max_concurrent": 4095}}]}`,
		`{"policies": [{"name": "a", "bulkhead": {"max_concurrent": 2000, "queue": {"max_size": 1397, "max_wait": "1s"}}}]}`,
		`{"policies": [{"name": "a", "circuit_breaker": {"half_open_calls": 64}}]}`,
	} {
		t.Run("", func(t *testing.T) {
			h, ok := startHarness(t, "native", cfg)
			if !ok {
				t.Fatalf("%s: %v", cfg, h.host.GetCriticalLogs())
			}
		})
	}
}
