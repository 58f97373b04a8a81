package filter

import (
	"encoding/binary"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/patterns/retry"
)

// budgetCounts reads a retry budget's record from shared data (the format
// of patterns/retry's doc.go) and sums its buckets: the requests and the
// retries it counts (the scenarios below stay well within one second).
func budgetCounts(t *testing.T, key string) (requests, retries int) {
	t.Helper()
	v, _, err := proxywasm.GetSharedData(key)
	if err != nil {
		t.Fatalf("budget %s: %v", key, err)
	}
	if len(v) != retry.RecordBytes || v[0] != 1 {
		t.Fatalf("budget %s: %d bytes", key, len(v))
	}
	for p := v[9:]; len(p) >= 8; p = p[8:] {
		requests += int(binary.LittleEndian.Uint32(p))
		retries += int(binary.LittleEndian.Uint32(p[4:]))
	}
	return requests, retries
}

// TestScenariosRetryLease: with a budget large enough to lease
// (min_per_second 1000: the first request's update takes its grant and a
// lease of floor(999/16) = 62 more), the next requests get their retry in
// x-envoy-max-retries from the worker's lease and are counted locally: the
// shared budget does not change until the tick, which writes the requests
// and the unused grants in one update (and leases again); a tick after no
// grant gives the lease back, and the budget then holds exactly the
// requests made and no retry (none was performed).
func TestScenariosRetryLease(t *testing.T) {
	const key = "breakwater/svc/retry"
	runScenarios(t, []scenario{{
		name:   "grants from the lease, counts written by the tick",
		config: `{"policies": [{"name": "svc", "retry": {"max_retries": 1, "budget": {"ratio": 0, "min_per_second": 1000}}}]}`,
		run: func(t *testing.T, h *harness) {
			first := h.request("GET", "/")
			if first.upstreamHeader("x-envoy-max-retries") != "1" {
				t.Fatal("first request: no retry")
			}
			req0, ret0 := budgetCounts(t, key)
			if req0 != 1 || ret0 != 1+62 {
				t.Fatalf("after the first request the budget counts %d requests %d retries, want 1 and 63", req0, ret0)
			}
			xs := []*exchange{first}
			for range 5 {
				x := h.request("GET", "/")
				if x.upstreamHeader("x-envoy-max-retries") != "1" || x.upstreamHeader("x-envoy-retry-on") == "" {
					t.Fatalf("granted from the lease: directives %v", h.host.GetCurrentRequestHeaders(x.id))
				}
				xs = append(xs, x)
			}
			post := h.request("POST", "/")
			if post.upstreamHeader("x-envoy-max-retries") != "0" {
				t.Fatal("POST got retries")
			}
			xs = append(xs, post)
			for _, x := range xs {
				x.respond("200", "x-envoy-attempt-count", "1")
			}
			// No round trip since the first request (all in one 100ms epoch
			// of the clock): the shared record is as the first left it.
			if req, ret := budgetCounts(t, key); req != req0 || ret != ret0 {
				t.Fatalf("before the tick the budget counts %d requests %d retries, want %d %d", req, ret, req0, ret0)
			}
			h.host.Tick() // the tick: counts written, a new lease taken
			if req, ret := budgetCounts(t, key); req != 7 || ret != 62 {
				t.Fatalf("after the tick the budget counts %d requests %d retries, want 7 and a lease of 62", req, ret)
			}
			h.host.Tick() // no grant since: the lease goes back
			if req, ret := budgetCounts(t, key); req != 7 || ret != 0 {
				t.Fatalf("after an idle tick the budget counts %d requests %d retries, want 7 and 0", req, ret)
			}
			if h.counter(metricdef.Name("breakwater", metricdef.RetryBudgetExhaustedTotal, "svc")) != 0 {
				t.Fatal("budget_exhausted_total != 0")
			}
		},
	}, {
		name: "the directives replace a client's values, once each",
		config: `{"policies": [{"name": "svc", "retry": {"max_retries": 2, "per_try_timeout": "250ms", "budget": {"ratio": 0, "min_per_second": 1000}},
			"timeout": {"request": "2s", "deadline": {"propagate": true}}}]}`,
		run: func(t *testing.T, h *harness) {
			for range 3 { // from the round trip, then from the lease
				x := h.request("GET", "/", "x-envoy-max-retries", "9", "x-envoy-upstream-rq-timeout-ms", "99999",
					"x-envoy-upstream-rq-per-try-timeout-ms", "1", "x-envoy-retry-on", "reset")
				want := map[string]string{"x-envoy-max-retries": "2", "x-envoy-upstream-rq-timeout-ms": "2000",
					"x-envoy-expected-rq-timeout-ms": "2000", "x-envoy-upstream-rq-per-try-timeout-ms": "250",
					"x-envoy-retry-on": ""} // the configuration's default list: not checked here
				seen := map[string]int{}
				for _, kv := range h.host.GetCurrentRequestHeaders(x.id) {
					if w, ok := want[kv[0]]; ok {
						seen[kv[0]]++
						if kv[1] != w && kv[0] != "x-envoy-retry-on" {
							t.Fatalf("%s: %q, want %q", kv[0], kv[1], w)
						}
					}
				}
				for k := range want {
					if seen[k] != 1 {
						t.Fatalf("%s appears %d times: %v", k, seen[k], h.host.GetCurrentRequestHeaders(x.id))
					}
				}
				x.respond("200", "x-envoy-attempt-count", "1")
			}
		},
	}})
}
