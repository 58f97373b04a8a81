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

// abRounds is the number of interleaved rounds of BenchmarkThroughputAB.
const abRounds = 7

// BenchmarkThroughputAB measures the dev host's throughput with
// dist/breakwater.wasm (bench/full.json) against dist/noop.wasm in
// interleaved A/B rounds in one run, so that both sides see the same
// machine load: each round runs b.N requests through noop, then b.N through
// the filter (the order alternates from round to round), with
// Host.ServeHTTP called from 16 goroutines (no client sockets), 4 worker
// VMs each, the same loopback upstream. Reported: ratio-median (the median
// over the rounds of filter rps / noop rps: the figure issue 11 targets at
// >= 0.6), ratio-min and ratio-max, and the client-observed p50/p99 of each
// side over all rounds. A benchmark only: no test depends on these times.
// BREAKWATER_AB_WASM (a .wasm file) replaces the filter side's module, with
// BREAKWATER_AB_CONFIG (a file) its configuration (bench/full.json when
// unset), to compare another build or policy against noop.wasm the same way.
//
//	go test -run '^$' -bench ThroughputAB -benchtime 2000x ./e2e
func BenchmarkThroughputAB(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	type side struct {
		name string
		h    *devhost.Host
		lat  []time.Duration
		rps  []float64
	}
	var sides [2]*side
	for i, p := range []struct{ name, wasm, cfg string }{
		{"noop", "noop.wasm", ""}, {"breakwater", "breakwater.wasm", benchConfig(b)},
	} {
		wasm := distWasm(b, p.wasm)
		if f := os.Getenv("BREAKWATER_AB_WASM"); f != "" && i == 1 { // another build, or another policy
			var err error
			if wasm, err = os.ReadFile(f); err != nil {
				b.Fatal(err)
			}
			if f := os.Getenv("BREAKWATER_AB_CONFIG"); f != "" {
				c, err := os.ReadFile(f)
				if err != nil {
					b.Fatal(err)
				}
				p.cfg = string(c)
			}
		}
		h, err := devhost.New(devhost.Options{Wasm: wasm, PluginConfig: []byte(p.cfg), Workers: workers,
			Clusters: map[string]string{"upstream": up.URL}, CompilationCache: cache, LogLevel: devhost.LogWarn})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		sides[i] = &side{name: p.name, h: h}
	}
	const goroutines = 16
	var seq atomic.Int64
	run := func(s *side, n int) {
		var mu sync.Mutex
		var bad atomic.Int64
		t0 := time.Now()
		parallel(goroutines, func(g int) {
			mine := make([]time.Duration, 0, n/goroutines+1)
			for i := g; i < n; i += goroutines {
				user := fmt.Sprint("user-", seq.Add(1)%1000)
				st := time.Now()
				if serve(s.h, "GET", "/api/orders", "x-user-id", user).Code != http.StatusOK {
					bad.Add(1)
				}
				mine = append(mine, time.Since(st))
			}
			mu.Lock()
			s.lat = append(s.lat, mine...)
			mu.Unlock()
		})
		s.rps = append(s.rps, float64(n)/time.Since(t0).Seconds())
		if bad.Load() != 0 {
			b.Fatalf("%s: %d responses were not 200", s.name, bad.Load())
		}
	}
	for _, s := range sides { // warm the VMs (Go heaps, shared-data keys, connections)
		run(s, 400)
		s.lat, s.rps = nil, nil
	}
	b.ResetTimer()
	var ratios []float64
	for r := 0; r < abRounds; r++ {
		order := []*side{sides[0], sides[1]}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, s := range order {
			run(s, b.N)
		}
		ratios = append(ratios, sides[1].rps[r]/sides[0].rps[r])
	}
	b.StopTimer()
	for _, s := range sides {
		if st := s.h.Stats(); st.Traps != 0 {
			b.Fatalf("%s: %d traps", s.name, st.Traps)
		}
	}
	sort.Float64s(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio-median")
	b.ReportMetric(ratios[0], "ratio-min")
	b.ReportMetric(ratios[len(ratios)-1], "ratio-max")
	for _, s := range sides {
		sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
		b.ReportMetric(float64(s.lat[len(s.lat)/2].Nanoseconds())/1e3, s.name+"-p50-µs")
		b.ReportMetric(float64(s.lat[len(s.lat)*99/100].Nanoseconds())/1e3, s.name+"-p99-µs")
	}
	b.Logf("per-round filter/noop rps ratios (sorted): %.3f", ratios)
}
