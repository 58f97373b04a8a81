package filter

import (
	"slices"
	"strings"
	"testing"
)

// The filter's response headers are written with the upstream's in one
// header-map write: every upstream header stays, in order, duplicates
// included, and x-breakwater-policy and the RateLimit-* headers follow.
func TestScenariosResponseHeaders(t *testing.T) {
	runScenarios(t, []scenario{{
		name: "upstream response headers kept, the filter's appended",
		config: `{"policies": [{"name": "p", "rate_limit": {"limits": [{"name": "l", "requests": 5, "per": "1m"}]},
			"circuit_breaker": {"minimum_calls": 100}, "retry": {"max_retries": 1}}]}`,
		run: func(t *testing.T, h *harness) {
			x := h.request("GET", "/a")
			if !x.forwarded() {
				t.Fatal("not forwarded")
			}
			up := [][2]string{{":status", "200"}, {"set-cookie", "a=1"}, {"x-up", "1"}, {"set-cookie", "b=2"}, {"x-envoy-attempt-count", "1"}}
			h.host.CallOnResponseHeaders(x.id, up, false)
			got := h.host.GetCurrentResponseHeaders(x.id)
			var rest [][2]string
			for _, kv := range got {
				if !slices.Contains(up, kv) {
					rest = append(rest, kv)
				}
			}
			var kept [][2]string
			for _, kv := range got {
				if slices.Contains(up, kv) {
					kept = append(kept, kv)
				}
			}
			if !slices.Equal(kept, up) {
				t.Errorf("upstream headers: got %q, want %q", kept, up)
			}
			want := [][2]string{{"x-breakwater-policy", "p"}, {"ratelimit-limit", "5"}, {"ratelimit-remaining", "4"}, {"ratelimit-reset", "12"}} // token bucket: one token back in 1m/5
			if !slices.Equal(rest, want) {
				t.Errorf("added headers: got %q, want %q", rest, want)
			}
			if !slices.Equal(got[:len(up)], up) {
				t.Errorf("order: got %q", got)
			}
			h.host.CompleteHttpContext(x.id)
		},
	}})
}

// The request headers the filter sets replace the client's (any case), one
// value each, and every other client header goes upstream as sent.
func TestScenariosRequestHeaderRewrite(t *testing.T) {
	runScenarios(t, []scenario{{
		name:   "directives replace the client's, others kept",
		config: `{"policies": [{"name": "p", "retry": {"max_retries": 1}, "timeout": {"request": "2s", "deadline": {"propagate": true}}}]}`,
		run: func(t *testing.T, h *harness) {
			x := h.request("GET", "/a", "X-Envoy-Max-Retries", "9", "x-envoy-upstream-rq-timeout-ms", "99999",
				"x-keep", "1", "x-envoy-retry-oN", "reset", "x-keep", "2")
			if !x.forwarded() {
				t.Fatal("not forwarded")
			}
			count := map[string][]string{}
			for _, kv := range h.host.GetCurrentRequestHeaders(x.id) {
				n := strings.ToLower(kv[0])
				count[n] = append(count[n], kv[1])
			}
			for n, want := range map[string]string{"x-envoy-max-retries": "1", "x-envoy-upstream-rq-timeout-ms": "2000",
				"x-envoy-expected-rq-timeout-ms": "2000", "x-envoy-retry-on": "5xx,reset,connect-failure", "x-breakwater-policy": "p"} {
				if got := count[n]; len(got) != 1 || got[0] != want {
					t.Errorf("%s = %q, want [%s]", n, got, want)
				}
			}
			if got := count["x-keep"]; !slices.Equal(got, []string{"1", "2"}) {
				t.Errorf("x-keep = %q", got)
			}
			x.respond("200")
		},
	}})
}

// Stream blocks (streamBufs) come back to the VM only when their stream
// ends: a paused stream's undo record survives other streams taking and
// giving back blocks, and its reset refunds its own key.
func TestScenariosStreamBlocks(t *testing.T) {
	runScenarios(t, []scenario{{
		name: "a queued stream's refund survives other streams' blocks",
		config: `{"policies": [{"name": "p",
			"rate_limit": {"limits": [{"name": "u", "key": ["header:x-user-id"], "requests": 1, "per": "1h"}]},
			"bulkhead": {"max_concurrent": 1, "queue": {"max_size": 1, "max_wait": "1h"}}}]}`,
		run: func(t *testing.T, h *harness) {
			a := h.request("GET", "/x", "x-user-id", "a")
			if !a.forwarded() {
				t.Fatal("a: not forwarded")
			}
			b := h.request("GET", "/x", "x-user-id", "b")
			if !b.paused() {
				t.Fatalf("b: not queued (status %d)", b.status())
			}
			// c and d are admitted by their limits, then refused by the full
			// queue (their own tokens refunded); their blocks come and go.
			for _, u := range []string{"c", "d", "c"} {
				x := h.request("GET", "/x", "x-user-id", u)
				expectReason(t, x, 503, "bulkhead_full")
				x.end()
			}
			b.end() // reset while queued: b's token comes back
			for _, u := range []string{"b", "c", "d"} {
				x := h.request("GET", "/x", "x-user-id", u)
				if !x.paused() {
					t.Fatalf("%s: want queued (its token back), got status %d %q", u, x.status(), x.localHeader("x-breakwater-reason"))
				}
				x.end()
			}
			a.respond("200")
		},
	}})
}
