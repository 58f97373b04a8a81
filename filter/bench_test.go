package filter

import (
	"strconv"
	"testing"
)

// Per-request cost of the filter: one request (headers in, response
// headers, stream done) through the plugin, natively and through the .wasm,
// for a no-op policy (the floor: a policy that matches and does nothing)
// and for each pattern mix. Compare the ratios within one run:
//
//	go test -run '^$' -bench BenchmarkRequest -benchmem -count 5 ./filter
var benchPolicies = []struct{ name, config string }{
	{"noop", `{"policies": [{"name": "p"}]}`},
	{"ratelimit-3level", `{"policies": [{"name": "p", "rate_limit": {"limits": [
		{"name": "user", "key": ["header:x-user-id"], "requests": 1000000000, "per": "1s"},
		{"name": "path", "key": ["path"], "algorithm": "token_bucket", "requests": 1000000000, "per": "1s"},
		{"name": "all", "requests": 1000000000, "per": "1s"}]}}]}`},
	{"breaker", `{"policies": [{"name": "p", "circuit_breaker": {"minimum_calls": 20, "failure_rate_threshold": 0.5}}]}`},
	{"bulkhead-retry-timeout", `{"policies": [{"name": "p", "bulkhead": {"max_concurrent": 1000},
		"retry": {"max_retries": 2, "budget": {"ratio": 0.2, "min_per_second": 5}},
		"timeout": {"request": "2s", "deadline": {"propagate": true}}}]}`},
}

func BenchmarkRequest(b *testing.B) {
	for _, mode := range modes() {
		for _, p := range benchPolicies {
			b.Run(p.name+"/"+mode, func(b *testing.B) {
				h, ok := startHarness(b, mode, p.config)
				if !ok {
					b.Fatalf("start: %v", h.host.GetCriticalLogs())
				}
				users := make([]string, 64)
				for i := range users {
					users[i] = "u" + strconv.Itoa(i)
				}
				resp := [][2]string{{":status", "200"}}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					id := h.host.InitializeHttpContext()
					h.host.CallOnRequestHeaders(id, hdrs("GET", "/orders/1", "x-user-id", users[i&63]), true)
					h.host.CallOnResponseHeaders(id, resp, true)
					h.host.CompleteHttpContext(id)
				}
			})
		}
	}
}
