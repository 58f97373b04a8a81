package filter

import (
	"strconv"
	"testing"
)

// TestScenariosManyKeysStayExact: a per-user limit that leases (600 per
// user in any 24 h, a sliding window: no request leaves the window while
// the scenario runs, however slow the machine) sees 1,500 other users
// twice each (the second request takes a lease of two: more keys than the
// worker's table of 1,024 leases, so leases are given back as their slots
// go to other keys) while one user sends 700 requests among them. That
// user is admitted exactly 600 times, never more and never fewer, and
// every other user both times: the key cache, the lease table, its
// evictions and the renewal rules keep the limit exact. Natively and in
// the .wasm.
func TestScenariosManyKeysStayExact(t *testing.T) {
	runScenarios(t, []scenario{{
		name: "one heavy user among 1,500",
		config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
			{"name": "per-user", "key": ["header:x-user-id"], "algorithm": "sliding_window", "requests": 600, "per": "24h", "max_keys": 100000}]}}]}`,
		run: func(t *testing.T, h *harness) {
			heavy, others := 0, 0
			send := func(user string) bool {
				x := h.request("GET", "/api/orders", "x-user-id", user)
				switch st := x.status(); {
				case x.forwarded():
					x.respond("200")
					return true
				case st == 429:
					x.end()
					return false
				default:
					t.Fatalf("user %s: status %d", user, st)
				}
				return false
			}
			sent := 0
			for round := 0; round < 2; round++ {
				for i := 0; i < 1500; i++ {
					if send("user-" + strconv.Itoa(i)) {
						others++
					}
					if i%4 == 0 && sent < 700 {
						sent++
						if send("alice") {
							heavy++
						}
					}
				}
			}
			if others != 3000 {
				t.Errorf("other users: %d of 3,000 admitted", others)
			}
			if heavy != 600 {
				t.Errorf("the heavy user: %d of 600 admitted, want exactly 600", heavy)
			}
			h.host.Tick() // leases given back: still refused, the window counts 600
			if send("alice") {
				t.Error("the heavy user was admitted past the limit after the tick")
			}
		},
	}})
}
