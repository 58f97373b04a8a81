package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/testsvc"
)

// benchConfig reads bench/full.json, the benchmark policy (also measured by
// `make perf` as "full"): three rate limit levels (per user, per endpoint,
// global; high enough that every request passes, so every request pays for
// all three), a breaker, retries with a shared budget and a request timeout
// with deadline propagation.
func benchConfig(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testsvc.RepoRoot(), "bench", "full.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// BenchmarkFilterVsNoop measures requests through the dev host with 4
// worker VMs: dist/breakwater.wasm with bench/full.json against dist/noop.wasm
// (a plugin built the same way whose HTTP contexts do nothing: the floor of
// host, router and HTTP), the same upstream (one loopback server, 200 "ok"),
// side by side in one run. Two drivers:
//
//   - sockets: real clients (16 goroutines, keep-alive) through the host's
//     front server, as a proxy would be used;
//   - direct: Host.ServeHTTP called from 16 goroutines (no client socket),
//     which shows the host+filter cost with less noise from the client.
//
// Reported per sub-benchmark: rps (requests/second over the run), p50-µs
// and p99-µs (client-observed latency) and hostcalls/op (env.* host calls
// the plugin made per request, from Host.Stats).
//
//	go test -run '^$' -bench FilterVsNoop -benchtime 20000x -count 3 ./e2e
func BenchmarkFilterVsNoop(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	plugins := []struct {
		name, wasm, cfg string
	}{
		{"noop", "noop.wasm", ""},
		{"breakwater", "breakwater.wasm", benchConfig(b)},
	}
	for _, driver := range []string{"sockets", "direct"} {
		for _, p := range plugins {
			b.Run(driver+"/"+p.name, func(b *testing.B) {
				h, err := devhost.New(devhost.Options{Wasm: distWasm(b, p.wasm), PluginConfig: []byte(p.cfg), Workers: workers,
					Clusters: map[string]string{"upstream": up.URL}, CompilationCache: cache, LogLevel: devhost.LogWarn})
				if err != nil {
					b.Fatal(err)
				}
				defer h.Close()
				var do func(user string) int
				if driver == "sockets" {
					front := httptest.NewServer(h)
					defer front.Close()
					client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
					defer client.CloseIdleConnections()
					do = func(user string) int {
						req, _ := http.NewRequest("GET", front.URL+"/api/orders", nil)
						req.Header.Set("x-user-id", user)
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return 0
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						return resp.StatusCode
					}
				} else {
					do = func(user string) int { return serve(h, "GET", "/api/orders", "x-user-id", user).Code }
				}
				// Warm the VMs (Go heaps, shared-data keys, connections).
				for i := 0; i < 200; i++ {
					do(fmt.Sprint("warm-", i))
				}
				h.ResetStats()
				var mu sync.Mutex
				var lat []time.Duration
				var bad, seq atomic.Int64
				b.SetParallelism(8) // 8 x GOMAXPROCS goroutines (16 here)
				b.ResetTimer()
				t0 := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					mine := make([]time.Duration, 0, 1024)
					for pb.Next() {
						user := fmt.Sprint("user-", seq.Add(1)%1000)
						s := time.Now()
						if code := do(user); code != http.StatusOK {
							bad.Add(1)
						}
						mine = append(mine, time.Since(s))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
				elapsed := time.Since(t0)
				b.StopTimer()
				if bad.Load() != 0 {
					b.Fatalf("%d responses were not 200", bad.Load())
				}
				st := h.Stats()
				if st.Traps != 0 {
					b.Fatalf("%d traps", st.Traps)
				}
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rps")
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
				b.ReportMetric(st.HostCallsPerRequest(), "hostcalls/op")
			})
		}
	}
}
