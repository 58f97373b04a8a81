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
