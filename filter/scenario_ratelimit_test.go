package filter

import (
	"strconv"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/internal/metricdef"
)

// expectRejected checks a rate_limited local reply.
func expectRejected(t *testing.T, x *exchange, policy string) {
	t.Helper()
	if x.status() != 429 {
		t.Fatalf("status %d, want 429", x.status())
	}
	if got := x.localHeader("x-breakwater-reason"); got != "rate_limited" {
		t.Fatalf("x-breakwater-reason %q", got)
	}
	if got := x.localHeader("x-breakwater-policy"); got != policy {
		t.Fatalf("x-breakwater-policy %q", got)
	}
	ra, err := strconv.Atoi(x.localHeader("retry-after"))
	if err != nil || ra < 1 {
		t.Fatalf("retry-after %q", x.localHeader("retry-after"))
	}
}

func expectForwarded(t *testing.T, x *exchange) {
	t.Helper()
	if !x.forwarded() {
		t.Fatalf("not forwarded: status %d reason %q", x.status(), x.localHeader("x-breakwater-reason"))
	}
}

// sharedKeys counts the shared-data keys prefix+0 .. prefix+n-1 that exist.
// The emulator's shared data lives in this process in both runs.
func sharedKeys(t *testing.T, prefix string, n int) int {
	t.Helper()
	c := 0
	for i := 0; i < n; i++ {
		if _, _, err := proxywasm.GetSharedData(prefix + strconv.Itoa(i)); err == nil {
			c++
		}
	}
	return c
}

func TestScenariosRateLimit(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "token bucket per user: burst then 429 with headers, users independent",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "per-user", "key": ["header:x-user-id"], "algorithm": "token_bucket", "requests": 3, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 3; i++ {
					x := h.request("GET", "/", "x-user-id", "alice")
					expectForwarded(t, x)
					x.respond("200")
					if got, want := x.responseHeader("ratelimit-remaining"), strconv.Itoa(2-i); got != want {
						t.Fatalf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
					}
					if got := x.responseHeader("ratelimit-limit"); got != "3" {
						t.Fatalf("RateLimit-Limit %q", got)
					}
				}
				x := h.request("GET", "/", "x-user-id", "alice")
				expectRejected(t, x, "api")
				if got := x.localHeader("ratelimit-remaining"); got != "0" {
					t.Fatalf("RateLimit-Remaining on 429: %q", got)
				}
				// 1 token per 20 minutes: Retry-After is about 1200 s.
				if ra, _ := strconv.Atoi(x.localHeader("retry-after")); ra < 1190 || ra > 1200 {
					t.Fatalf("retry-after %d", ra)
				}
				x.end()
				expectForwarded(t, h.request("GET", "/", "x-user-id", "bob"))
				if n := h.counter(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "per-user")); n != 1 {
					t.Fatalf("limited_total %d", n)
				}
				if n := h.counter(metricdef.Name("breakwater", metricdef.RejectedTotal, "api", metricdef.LabelReason, "rate_limited")); n != 1 {
					t.Fatalf("rejected_total.rate_limited %d", n)
				}
			},
		},
		{
			name: "refill after time passes",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "all", "requests": 2, "per": "10s"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				expectForwarded(t, h.request("GET", "/"))
				expectForwarded(t, h.request("GET", "/"))
				expectRejected(t, h.request("GET", "/"), "api")
				h.advance(5 * time.Second) // one token back
				expectForwarded(t, h.request("GET", "/"))
				expectRejected(t, h.request("GET", "/"), "api")
			},
		},
		{
			name: "multi-level: rejected by one limit consumes nothing from the others",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "per-user", "key": ["header:x-user-id"], "requests": 2, "per": "1h"},
				{"name": "global", "requests": 3, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				expectForwarded(t, h.request("GET", "/", "x-user-id", "a"))
				expectForwarded(t, h.request("GET", "/", "x-user-id", "a"))
				// a is over its own limit: the global limit must not be charged.
				for i := 0; i < 5; i++ {
					expectRejected(t, h.request("GET", "/", "x-user-id", "a"), "api")
				}
				x := h.request("GET", "/", "x-user-id", "b")
				expectForwarded(t, x)
				x.respond("200")
				// Most restrictive for b: global has 0 left, per-user 1.
				if got := x.responseHeader("ratelimit-remaining"); got != "0" {
					t.Fatalf("remaining %q, want the global limit's 0", got)
				}
				expectRejected(t, h.request("GET", "/", "x-user-id", "c"), "api")
				if n := h.counter(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "per-user")); n != 5 {
					t.Fatalf("per-user limited %d", n)
				}
				if n := h.counter(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "global")); n != 1 {
					t.Fatalf("global limited %d", n)
				}
			},
		},
		{
			name: "tiers pick parameters by header; unknown tier is the default",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "per-user", "key": ["header:x-user-id"], "requests": 1, "per": "1h",
				 "tier": {"from": "header:x-tier", "default": "basic",
				          "limits": {"premium": {"requests": 3, "per": "1h"}}}}]}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 3; i++ {
					expectForwarded(t, h.request("GET", "/", "x-user-id", "p", "x-tier", "premium"))
				}
				expectRejected(t, h.request("GET", "/", "x-user-id", "p", "x-tier", "premium"), "api")
				expectForwarded(t, h.request("GET", "/", "x-user-id", "b", "x-tier", "gold"))
				expectRejected(t, h.request("GET", "/", "x-user-id", "b", "x-tier", "gold"), "api")
				expectForwarded(t, h.request("GET", "/", "x-user-id", "c"))
				expectRejected(t, h.request("GET", "/", "x-user-id", "c"), "api")
			},
		},
		{
			name: "max_keys bounds the shared data written under many users",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "per-user", "key": ["header:x-user-id"], "requests": 1, "per": "1h", "max_keys": 8}]}}]}`,
			run: func(t *testing.T, h *harness) {
				fwd := 0
				for i := 0; i < 200; i++ {
					x := h.request("GET", "/", "x-user-id", "u"+strconv.Itoa(i))
					if x.forwarded() {
						fwd++
						x.respond("200")
					} else {
						x.end()
					}
				}
				// At most 8 users found an entry; all the others share the
				// overflow state, which admits the limit's own 1 per hour.
				if fwd < 2 || fwd > 8+1 {
					t.Fatalf("%d of 200 users admitted, want at most 9", fwd)
				}
				// The first user keeps its (exhausted) state.
				expectRejected(t, h.request("GET", "/", "x-user-id", "u0"), "api")
				// max_keys 8 = 2 sets of 4: at most 2 shared-data keys written, and the overflow.
				if n := sharedKeys(t, "breakwater/api/rl/per-user/", 1000); n < 1 || n > 2 {
					t.Fatalf("%d shared-data keys written, bound 2", n)
				}
			},
		},
		{
			name: "status and headers options",
			config: `{"policies": [{"name": "api", "rate_limit": {"headers": false, "status": 503, "limits": [
				{"name": "all", "requests": 1, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				x := h.request("GET", "/")
				expectForwarded(t, x)
				x.respond("200")
				if x.responseHeader("ratelimit-limit") != "" {
					t.Fatal("RateLimit headers despite headers:false")
				}
				y := h.request("GET", "/")
				if y.status() != 503 || y.localHeader("x-breakwater-reason") != "rate_limited" || y.localHeader("retry-after") != "" {
					t.Fatalf("status %d reason %q retry-after %q", y.status(), y.localHeader("x-breakwater-reason"), y.localHeader("retry-after"))
				}
			},
		},
	})
}
