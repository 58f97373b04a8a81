package filter

import (
	"strconv"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// casOf is the value and CAS of a shared-data key ("" when absent): the CAS
// changes on every write (and the value with the instant of the write the
// table keeps), so an unchanged casOf means nothing wrote the key.
func casOf(key string) string {
	v, cas, err := proxywasm.GetSharedData(key)
	if err != nil {
		return ""
	}
	return strconv.FormatUint(uint64(cas), 10) + ":" + string(v)
}

// TestScenariosRateLimitLeases: the worker leases of local limits
// (patterns/ratelimit, "Worker leases") in the filter, natively and in the
// .wasm.
func TestScenariosRateLimitLeases(t *testing.T) {
	const fw, tb = "breakwater/api/rl/fw/0", "breakwater/api/rl/tb/0"
	runScenarios(t, []scenario{
		{
			name: "a limit of 10,000 takes 39 requests at once: 38 more requests write no shared data, with the exact RateLimit-Remaining",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "tb", "requests": 100000, "per": "1h"},
				{"name": "fw", "algorithm": "fixed_window", "requests": 10000, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				cfw, ctb := "", ""
				for i := 0; i < 45; i++ {
					x := h.request("GET", "/")
					expectForwarded(t, x)
					x.respond("200")
					// The most restrictive limit, fw, as exact counting would say.
					if got, want := x.responseHeader("ratelimit-remaining"), strconv.Itoa(9999-i); got != want {
						t.Fatalf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
					}
					nfw, ntb := casOf(fw), casOf(tb)
					// The first request takes one (the key is seen for the
					// first time); the second, fw takes 9,999/256 = 39 at
					// once (again at the 41st request), tb 99,999/256 = 390.
					if wrote := nfw != cfw; wrote != (i <= 1 || i == 40) {
						t.Fatalf("request %d: fw written %v", i, wrote)
					}
					if wrote := ntb != ctb; wrote != (i <= 1) {
						t.Fatalf("request %d: tb written %v", i, wrote)
					}
					cfw, ctb = nfw, ntb
				}
			},
		},
		{
			name: "a limit of 255 stays exact: one shared-data write per admitted request, the 256th rejected",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "fw", "algorithm": "fixed_window", "requests": 255, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				last := ""
				for i := 0; i < 255; i++ {
					x := h.request("GET", "/")
					expectForwarded(t, x)
					x.respond("200")
					if got, want := x.responseHeader("ratelimit-remaining"), strconv.Itoa(254-i); got != want {
						t.Fatalf("request %d: RateLimit-Remaining %q, want %q", i, got, want)
					}
					if c := casOf(fw); c == last {
						t.Fatalf("request %d: no shared-data write", i)
					} else {
						last = c
					}
				}
				expectRejected(t, h.request("GET", "/"), "api")
			},
		},
		{
			name: "a request a later stage rejects gives its request back to the lease, not to shared data",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "fw", "algorithm": "fixed_window", "requests": 10000, "per": "1h"}]},
				"bulkhead": {"max_concurrent": 1}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 2; i++ { // the second takes a lease
					x := h.request("GET", "/")
					expectForwarded(t, x)
					x.respond("200")
				}
				a := h.request("GET", "/")
				expectForwarded(t, a) // holds the one slot
				c := casOf(fw)
				b := h.request("GET", "/")
				if b.status() != 503 {
					t.Fatalf("second request: status %d, want the bulkhead's 503", b.status())
				}
				b.end()
				if casOf(fw) != c {
					t.Fatal("the give-back wrote shared data")
				}
				a.respond("200")
				x := h.request("GET", "/")
				expectForwarded(t, x)
				x.respond("200")
				// 9997 after a; b's request came back: 9996 for x.
				if got := x.responseHeader("ratelimit-remaining"); got != "9996" {
					t.Fatalf("RateLimit-Remaining %q, want 9996", got)
				}
				if casOf(fw) != c {
					t.Fatal("a request from the lease wrote shared data")
				}
			},
		},
		{
			name: "an expired lease's unused requests go back to shared data from the tick",
			config: `{"policies": [{"name": "api", "rate_limit": {"limits": [
				{"name": "fw", "algorithm": "fixed_window", "requests": 10000, "per": "1h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				for i := 0; i < 3; i++ {
					x := h.request("GET", "/")
					expectForwarded(t, x)
					x.respond("200")
				}
				c := casOf(fw)
				h.advance(1500 * time.Millisecond) // past the lease's lifetime (1 s)
				if casOf(fw) == c {
					t.Fatal("the tick gave nothing back")
				}
				c = casOf(fw)
				x := h.request("GET", "/")
				expectForwarded(t, x)
				x.respond("200")
				// Exactly what counting one by one says: 3 used, this is the 4th.
				if got := x.responseHeader("ratelimit-remaining"); got != "9996" {
					t.Fatalf("RateLimit-Remaining %q, want 9996", got)
				}
				if casOf(fw) == c {
					t.Fatal("no new lease taken")
				}
			},
		},
	})
}
