package devhost

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkServe measures requests through the dev host, 4 workers, one
// upstream on loopback, parallel clients: the test guest doing nothing (the
// floor: host, router, HTTP) and the real plugin with a rate limit policy,
// side by side. Reported: host calls per request (in stream callbacks), p50
// and p99 latency.
//
//	go test -run '^$' -bench Serve -benchmem ./devhost
func BenchmarkServe(b *testing.B) {
	cases := []struct {
		name string
		wasm func(testing.TB) []byte
		cfg  string
	}{
		{"guest-noop", func(testing.TB) []byte { return guestWasm }, "quiet=1"},
		{"plugin-ratelimit", pluginWasm, `{"policies":[{"name":"api","rate_limit":{"limits":[
 {"name":"per-user","key":["header:x-user"],"requests":1000000000,"per":"1s"}]}}]}`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			defer up.Close()
			f := newFixture(b, Options{Wasm: c.wasm(b), PluginConfig: []byte(c.cfg), Clusters: map[string]string{"upstream": up.URL}})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var mu sync.Mutex
			var lat []time.Duration
			f.h.ResetStats()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					req, _ := http.NewRequest("GET", f.front.URL+"/api", nil)
					req.Header.Set("x-user", "u1")
					t0 := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			st := f.h.Stats()
			b.ReportMetric(st.HostCallsPerRequest(), "hostcalls/op")
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}
