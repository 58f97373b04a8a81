package filter

import (
	"strconv"
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/metricdef"
)

func TestScenariosRateLimitAlgorithms(t *testing.T) {
	limit := func(alg, extra string) string {
		return `{"policies": [{"name": "api", "rate_limit": {"limits": [{"name": "l", "key": ["header:x-user-id"], "algorithm": "` + alg + `", ` + extra + `}]}}]}`
	}
	runScenarios(t, []scenario{
		{
			name:   "gcra: burst then 429; Limit is the burst",
			config: limit("gcra", `"requests": 2, "per": "1h", "burst": 3`),
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 3; i++ {
					x := h.request("GET", "/", "x-user-id", "a")
					expectForwarded(t, x)
					x.respond("200")
					if x.responseHeader("ratelimit-limit") != "3" || x.responseHeader("ratelimit-remaining") != strconv.Itoa(2-i) {
						t.Fatalf("request %d headers %v", i, h.host.GetCurrentResponseHeaders(x.id))
					}
				}
				x := h.request("GET", "/", "x-user-id", "a")
				expectRejected(t, x, "api")
				// one emission interval is 30 minutes
				if ra, _ := strconv.Atoi(x.localHeader("retry-after")); ra < 1790 || ra > 1800 {
					t.Fatalf("retry-after %d", ra)
				}
				expectForwarded(t, h.request("GET", "/", "x-user-id", "b"))
			},
		},
		{
			name:   "fixed_window: requests per window; Limit is requests; a new window admits again",
			config: limit("fixed_window", `"requests": 2, "per": "10s"`),
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 2; i++ {
					x := h.request("GET", "/", "x-user-id", "a")
					expectForwarded(t, x)
					x.respond("200")
					if x.responseHeader("ratelimit-limit") != "2" {
						t.Fatalf("limit header %q", x.responseHeader("ratelimit-limit"))
					}
				}
				x := h.request("GET", "/", "x-user-id", "a")
				expectRejected(t, x, "api")
				if ra, _ := strconv.Atoi(x.localHeader("retry-after")); ra < 1 || ra > 10 {
					t.Fatalf("retry-after %d", ra)
				}
				h.advance(10 * time.Second)
				expectForwarded(t, h.request("GET", "/", "x-user-id", "a"))
			},
		},
		{
			name:   "sliding_window: never more than requests in any window (no boundary burst)",
			config: limit("sliding_window", `"requests": 2, "per": "10s"`),
			run: func(t *testing.T, h *harness) {
				// Wherever the fixed boundaries fall, 2 requests then 2 more
				// 5s later is 4 in a 10s window: the last two are rejected.
				expectForwarded(t, h.request("GET", "/", "x-user-id", "a"))
				expectForwarded(t, h.request("GET", "/", "x-user-id", "a"))
				h.advance(5 * time.Second)
				expectRejected(t, h.request("GET", "/", "x-user-id", "a"), "api")
				expectRejected(t, h.request("GET", "/", "x-user-id", "a"), "api")
				h.advance(20 * time.Second)
				expectForwarded(t, h.request("GET", "/", "x-user-id", "a"))
			},
		},
		{
			name:   "leaky_bucket shapes: delayed requests resume in arrival order from the tick; beyond max_delay 429; a reset releases its place",
			config: limit("leaky_bucket", `"requests": 10, "per": "1s", "burst": 1, "max_delay": "250ms"`),
			run: func(t *testing.T, h *harness) {
				r1 := h.request("GET", "/", "x-user-id", "a")
				expectForwarded(t, r1)
				r2 := h.request("GET", "/", "x-user-id", "a")
				r3 := h.request("GET", "/", "x-user-id", "a")
				if !r2.paused() || !r3.paused() {
					t.Fatal("r2 and r3 should be delayed")
				}
				expectRejected(t, h.request("GET", "/", "x-user-id", "a"), "api") // ~300ms > max_delay
				h.advance(150 * time.Millisecond)
				if !r2.forwarded() || !r3.paused() {
					t.Fatal("r2 should resume first, r3 still wait")
				}
				h.advance(100 * time.Millisecond)
				if !r3.forwarded() {
					t.Fatal("r3 not resumed")
				}
				// r4, r5 delayed; r4 reset while waiting gives its place back.
				r4 := h.request("GET", "/", "x-user-id", "a")
				r5 := h.request("GET", "/", "x-user-id", "a")
				if !r4.paused() || !r5.paused() {
					t.Fatal("r4 and r5 should be delayed")
				}
				r4.end()
				r6 := h.request("GET", "/", "x-user-id", "a")
				if !r6.paused() {
					t.Fatalf("r6 rejected (status %d): the reset r4 did not release its place", r6.status())
				}
				h.advance(400 * time.Millisecond)
				if !r5.forwarded() || !r6.forwarded() {
					t.Fatal("r5, r6 not resumed")
				}
			},
		},
		{
			name: "tiers and multi-level with mixed algorithms",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "user", "key": ["header:x-user-id"], "algorithm": "gcra", "requests": 1, "per": "1h",
				 "tier": {"from": "header:x-tier", "default": "basic", "limits": {"gold": {"requests": 3, "per": "1h"}}}},
				{"name": "path", "key": ["path"], "algorithm": "sliding_window", "requests": 4, "per": "1h"},
				{"name": "all", "algorithm": "fixed_window", "requests": 100, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 3; i++ {
					expectForwarded(t, h.request("GET", "/p", "x-user-id", "g", "x-tier", "gold"))
				}
				expectRejected(t, h.request("GET", "/p", "x-user-id", "g", "x-tier", "gold"), "api")
				expectForwarded(t, h.request("GET", "/p", "x-user-id", "b"))
				expectRejected(t, h.request("GET", "/p", "x-user-id", "c"), "api") // path limit: 4 used
				expectForwarded(t, h.request("GET", "/q", "x-user-id", "c"))
				if n := h.counter(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "path")); n != 1 {
					t.Fatalf("path limited %d", n)
				}
			},
		},
	})
}
