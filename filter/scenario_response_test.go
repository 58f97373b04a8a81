package filter

import (
	"slices"
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
