package filter

import (
	"strconv"
	"testing"
)

// floodKeys distinct keys hit the same keyed policy as the victim (issue
// "crafted keys evict live state"): with max_keys 8 the victim's live state
// is never replaced; the flood is decided by the overflow state.
const floodKeys = 10000

// flood sends n requests, each with its own value of header, answering
// those forwarded with status; it returns how many were forwarded.
func flood(h *harness, header, status string, n int) int {
	fwd := 0
	for i := 0; i < n; i++ {
		x := h.request("GET", "/", header, "flood-"+strconv.Itoa(i))
		if x.forwarded() {
			fwd++
			x.respond(status)
		} else {
			x.end()
		}
	}
	return fwd
}

func TestScenariosFloodKeepsLiveState(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "breaker: a victim's open breaker stays open under 10,000 distinct keys",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"key": ["header:x-user"], "max_keys": 8,
				"consecutive_failures": 1, "open_duration": "1h"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500", "x-user", "victim")
				expectReason(t, h.request("GET", "/", "x-user", "victim"), 503, "circuit_open")
				fwd := flood(h, "x-user", "200", floodKeys)
				expectReason(t, h.request("GET", "/", "x-user", "victim"), 503, "circuit_open")
				t.Logf("%s: victim open after %d distinct keys (%d forwarded)", h.mode, floodKeys, fwd)
			},
		},
		{
			name: "rate limit: a victim's exhausted limit stays exhausted under 10,000 distinct keys",
			config: `{"policies": [{"name": "svc", "rate_limit": {"limits": [{"name": "user", "key": ["header:x-user"],
				"max_keys": 8, "requests": 5, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 5; i++ {
					x := h.request("GET", "/", "x-user", "victim")
					expectForwarded(t, x)
					x.respond("200")
				}
				expectReason(t, h.request("GET", "/", "x-user", "victim"), 429, "rate_limited")
				fwd := flood(h, "x-user", "200", floodKeys)
				expectReason(t, h.request("GET", "/", "x-user", "victim"), 429, "rate_limited")
				// at most 7 keys found room (the victim holds one of 8 entries), the
				// overflow state admits the limit's own 5 for all the others
				if fwd > 7+5 {
					t.Fatalf("the flood got %d requests through, want at most 12", fwd)
				}
				t.Logf("%s: victim exhausted after %d distinct keys (%d forwarded)", h.mode, floodKeys, fwd)
			},
		},
		{
			name:   "bulkhead: a victim's bulkhead keeps its cap under 10,000 distinct keys",
			config: `{"policies": [{"name": "svc", "bulkhead": {"key": ["header:x-tenant"], "max_keys": 8, "max_concurrent": 2}}]}`,
			run: func(t *testing.T, h *harness) {
				a := h.request("GET", "/", "x-tenant", "victim")
				b := h.request("GET", "/", "x-tenant", "victim")
				expectForwarded(t, a)
				expectForwarded(t, b)
				expectReason(t, h.request("GET", "/", "x-tenant", "victim"), 503, "bulkhead_full")
				fwd := flood(h, "x-tenant", "200", floodKeys)
				expectReason(t, h.request("GET", "/", "x-tenant", "victim"), 503, "bulkhead_full")
				// the overflow bulkhead: 2 in flight for all overflowing keys
				var held []*exchange
				for i := 0; i < 20; i++ {
					x := h.request("GET", "/", "x-tenant", "held-"+strconv.Itoa(i))
					if x.forwarded() {
						held = append(held, x)
					} else {
						x.end()
					}
				}
				if len(held) > 7+2 {
					t.Fatalf("%d of 20 new tenants in flight at once, want at most 9 (7 entries + the overflow's 2)", len(held))
				}
				a.respond("200")
				expectForwarded(t, h.request("GET", "/", "x-tenant", "victim"))
				t.Logf("%s: victim capped after %d distinct keys (%d forwarded), %d of 20 new tenants held at once", h.mode, floodKeys, fwd, len(held))
			},
		},
	})
}
