package filter

import (
	"strconv"
	"testing"
)

// TestScenariosRateLimitFastPassRefund: a request the fast pass admitted
// from the leases (no undo record: the stream block's rlHold) and a later stage
// rejects gives its request back to the lease it came from, natively and
// in the .wasm: the next admitted request's RateLimit-Remaining counts only
// the requests let through, and no shared data is written for it. As the
// last stage, the rate limit keeps no checks at all (nothing can reject
// after it), and its counts are the same.
func TestScenariosRateLimitFastPassRefund(t *testing.T) {
	const fw = "breakwater/svc/rl/fw/0"
	runScenarios(t, []scenario{
		{
			name: "bulkhead full after the leases admitted: the request goes back to the lease",
			config: `{"policies": [{"name": "svc", "rate_limit": {"limits": [
				{"name": "fw", "algorithm": "fixed_window", "requests": 10000, "per": "1h"}]},
				"bulkhead": {"max_concurrent": 1}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 2; i++ { // the first is seen, the second takes the lease
					x := h.request("GET", "/")
					expectForwarded(t, x)
					x.respond("200")
				}
				c := casOf(fw)
				a := h.request("GET", "/") // from the lease
				expectForwarded(t, a)
				for i := 0; i < 3; i++ {
					expectReason(t, h.request("GET", "/"), 503, "bulkhead_full") // refunded to the lease
				}
				a.respond("200")
				if got, want := a.responseHeader("ratelimit-remaining"), "9997"; got != want {
					t.Fatalf("RateLimit-Remaining %q, want %q", got, want)
				}
				b := h.request("GET", "/")
				expectForwarded(t, b)
				b.respond("200")
				if got, want := b.responseHeader("ratelimit-remaining"), "9996"; got != want {
					t.Fatalf("after 3 refunds: RateLimit-Remaining %q, want %q", got, want)
				}
				if casOf(fw) != c {
					t.Fatal("a refund or an admission wrote shared data: not the lease's")
				}
			},
		},
		{
			name: "the rate limit as the last stage: the same counts without undo records",
			config: `{"policies": [{"name": "svc", "rate_limit": {"limits": [
				{"name": "fw", "algorithm": "fixed_window", "requests": 10000, "per": "1h"},
				{"name": "per-k", "key": ["header:x-k"], "algorithm": "fixed_window", "requests": 10000, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 5; i++ {
					x := h.request("GET", "/", "x-k", "a")
					expectForwarded(t, x)
					x.respond("200")
					if got, want := x.responseHeader("ratelimit-remaining"), strconv.Itoa(9999-i); got != want {
						t.Fatalf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
					}
				}
			},
		},
	})
}
