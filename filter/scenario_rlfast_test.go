package filter

import (
	"strconv"
	"testing"
)

// TestScenariosRateLimitFastPass: the rate limit stage's one pass over its
// limits' leases (rateLimitStage.onRequest), natively and in the .wasm: a
// request whose earlier limit's lease admits but whose later limit has
// none gives the request back to the earlier lease before shared data
// decides (ratelimit.Leases.Unuse), so each request counts once: the
// RateLimit-Remaining of the most restrictive limit is the exact count and
// the earlier limit writes no shared data.
func TestScenariosRateLimitFastPass(t *testing.T) {
	const fw = "breakwater/api/rl/fw/0"
	runScenarios(t, []scenario{
		{
			name: "a later limit without a lease: the earlier lease's request is given back, then used once",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "fw", "algorithm": "fixed_window", "requests": 10000, "per": "1h"},
				{"name": "per-k", "key": ["header:x-k"], "algorithm": "fixed_window", "requests": 10000, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 3; i++ { // the second takes fw's lease and a's, the third uses both
					x := h.request("GET", "/", "x-k", "a")
					expectForwarded(t, x)
					x.respond("200")
					if got, want := x.responseHeader("ratelimit-remaining"), strconv.Itoa(9999-i); got != want {
						t.Fatalf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
					}
				}
				c := casOf(fw)
				for i := 0; i < 10; i++ { // a new x-k each: seen for the first time, no lease
					x := h.request("GET", "/", "x-k", "new-"+strconv.Itoa(i))
					expectForwarded(t, x)
					x.respond("200")
					// fw is the most restrictive: 3 + i + 1 requests counted once each.
					if got, want := x.responseHeader("ratelimit-remaining"), strconv.Itoa(9996-i); got != want {
						t.Fatalf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
					}
				}
				if casOf(fw) != c {
					t.Fatal("fw's requests did not all come from its lease")
				}
				x := h.request("GET", "/", "x-k", "a") // both leases again
				expectForwarded(t, x)
				x.respond("200")
				if got := x.responseHeader("ratelimit-remaining"); got != "9986" {
					t.Fatalf("RateLimit-Remaining %q, want 9986", got)
				}
			},
		},
	})
}
