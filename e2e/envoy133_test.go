package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/testsvc"
)

// envoy133Config uses every block, so that every path that pauses a
// request and resumes it later (fault delay, leaky bucket shaping, bulkhead
// queue: all resumed from the plugin tick; the global limit: resumed from
// the callout response) runs under load.
//
// The limits whose rejections the test asserts count per hour, so that they
// reject by count, however slow the machine: 80 users send 300 /api
// requests each (per-user: 150 an hour, gold 300), /smooth gets 3,000
// requests (cap: 1,000 an hour, at most two windows in a run) and 10 users
// send 300 /mesh requests each (the service: 100 an hour).
//
// The policy "queue" is for the queue step after the load: one slot, whose
// holder the upstream keeps until the test lets it go, so the next request
// is provably queued (its max_wait and the route timeout are an hour: they
// never end the step).
const envoy133Config = `{"policies":[
 {"name":"api","match":{"path_prefix":"/api"},
  "fault":{"abort":{"percent":1,"status":503},"delay":{"percent":2,"duration":"5ms"}},
  "timeout":{"request":"2s","deadline":{"propagate":true,"min_remaining":"5ms"},
    "adaptive":{"quantile":0.95,"multiplier":2,"extra":"50ms","min":"100ms","max":"2s","min_samples":20}},
  "rate_limit":{"limits":[
    {"name":"per-user","key":["header:x-user-id"],"requests":150,"per":"1h","max_keys":500,
     "tier":{"from":"header:x-tier","default":"basic","limits":{"gold":{"requests":300,"per":"1h"}}}},
    {"name":"per-path","key":["path"],"algorithm":"sliding_window","requests":100000,"per":"1s"},
    {"name":"all","algorithm":"fixed_window","requests":1000000,"per":"1s"}]},
  "circuit_breaker":{"window":{"type":"time","size":"2s","buckets":10},"minimum_calls":20,"failure_rate_threshold":0.5,"consecutive_failures":20,
    "slow_call_duration":"500ms","open_duration":"300ms","half_open_calls":2},
  "bulkhead":{"max_concurrent":8,"queue":{"max_size":200,"max_wait":"500ms"}},
  "retry":{"max_retries":1,"retry_on":["5xx","reset"],"per_try_timeout":"1s","budget":{"ratio":0.2,"min_per_second":20}},
  "fallback":{"on":["circuit_open","upstream_failure"],"status":503,"body":"degraded","stale":{"max_age":"10s"}}},
 {"name":"smooth","match":{"path_prefix":"/smooth"},
  "rate_limit":{"limits":[{"name":"shape","algorithm":"leaky_bucket","requests":200,"per":"1s","burst":2,"max_delay":"20ms"},
    {"name":"cap","algorithm":"fixed_window","requests":1000,"per":"1h"}]}},
 {"name":"mesh","match":{"path_prefix":"/mesh"},
  "rate_limit":{"limits":[{"name":"g","scope":"global","key":["header:x-user-id"],"descriptor_key":"user"}],
   "service":{"cluster":"ratelimit","domain":"breakwater","timeout":"500ms","failure_mode":"allow"}}},
 {"name":"queue","match":{"path_prefix":"/queue"},"timeout":{"request":"1h"},
  "bulkhead":{"max_concurrent":1,"queue":{"max_size":4,"max_wait":"1h"}}}]}`

// TestEnvoy133WASILoad runs 30,000 requests through the 4 VMs with
// Options.Envoy133WASI: poll_oneoff returns ENOSYS (52), as in Envoy
// 1.33-1.38, where standard-Go plugins have died under load with
// "poll_oneoff failed errno=52" (golang/go issue 78513): the Go runtime
// calls poll_oneoff when it has to wait (a sleep, a timer, every goroutine
// blocked). The configuration uses every block and the traffic reaches
// every path that waits: fault delays, leaky-bucket shaping and bulkhead
// queueing (paused, resumed from the tick), global limits through the real
// envoyproxy/ratelimit (paused until the callout answers), retries, a
// breaker that trips and recovers (the upstream fails for a while),
// deadlines, adaptive timeouts, stale fallbacks.
//
// It asserts that no VM trapped, that poll_oneoff was never called, that
// every request got an answer with an expected status, and that each of
// those paths was really taken (its counter is non-zero).
func TestEnvoy133WASILoad(t *testing.T) {
	const total, clients = 30_000, 24
	redis := testsvc.Redis(t)
	rl := testsvc.RateLimit(t, redis, `domain: breakwater
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: 100
`)
	var failingNow atomic.Bool
	// /queue requests are held until the queue step opens the gate.
	queueGate := newGate()
	up := newUpstream(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/queue"):
			queueGate.hold(n, w, r)
		case failingNow.Load() || n%33 == 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case n%50 == 0:
			slow(20*time.Millisecond)(n, w, r)
		default:
			w.Write([]byte("ok"))
		}
	})
	e := newEnv(t, devhost.Options{PluginConfig: []byte(envoy133Config), Envoy133WASI: true,
		UpstreamCluster: "upstream", Clusters: map[string]string{"upstream": up.URL, "ratelimit": rl},
		RetryBaseInterval: 2 * time.Millisecond, LogLevel: devhost.LogWarn})
	pages := e.h.MemoryPages()

	var next atomic.Int64
	var statuses [600]atomic.Int64
	var unexpected atomic.Int64
	t0 := time.Now()
	parallel(clients, func(int) {
		for {
			i := next.Add(1) - 1
			if i >= total {
				return
			}
			// The upstream fails for requests 10,000..14,999: the breaker trips,
			// probes, and closes again once it recovers.
			failingNow.Store(i >= 10_000 && i < 15_000)
			user := fmt.Sprint("u", i%100)
			var path string
			kv := []string{"x-user-id", user}
			switch i % 10 {
			case 8:
				path = "/smooth"
			case 9:
				path = "/mesh"
			default:
				path = fmt.Sprintf("/api/item/%d", i%20)
				if i%7 == 0 {
					kv = append(kv, "x-tier", "gold")
				}
				switch i % 100 {
				case 11:
					kv = append(kv, "grpc-timeout", "3m") // below min_remaining: deadline_exceeded
				case 12, 13:
					kv = append(kv, "grpc-timeout", "1S")
				}
			}
			rec := serve(e.h, "GET", path, kv...)
			statuses[rec.Code].Add(1)
			switch rec.Code {
			case http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			default:
				if unexpected.Add(1) <= 3 {
					t.Errorf("%s: status %d %v", path, rec.Code, rec.Header())
				}
			}
		}
	})
	elapsed := time.Since(t0)
	// The queue step: one request holds the only slot of "queue" at the
	// upstream, the next waits in the queue (paused, resumed once the slot
	// is freed).
	queued, queueStatuses := queueBehind(t, e.h, "queue", "/queue/item", queueGate, 1, 1)
	st := e.h.Stats()
	m := func(name string) uint64 { return metric(e.h, name) }
	t.Logf("%d requests in %v under Envoy 1.33 WASI: 200 %d, 429 %d, 503 %d, 504 %d", total, elapsed.Round(time.Millisecond),
		statuses[200].Load(), statuses[429].Load(), statuses[503].Load(), statuses[504].Load())
	t.Logf("traps %d, poll_oneoff %d, ticks %d, callouts %d, retries %d, local replies %d, host calls/request %.1f",
		st.Traps, st.PollOneoff, st.Ticks, st.Callouts, st.Retries, st.LocalReplies, st.HostCallsPerRequest())
	t.Logf("breaker transitions %d, fault delayed %d aborted %d, deadline_exceeded %d, bulkhead queued (queue step) %d, bulkhead_full %d, fallback served %d",
		transitions(e.h, "api"), m(metricdef.Name("breakwater", metricdef.FaultDelayedTotal, "api")),
		m(metricdef.Name("breakwater", metricdef.FaultAbortedTotal, "api")), m(metricdef.Name("breakwater", metricdef.RejectedTotal, "api", metricdef.LabelReason, "deadline_exceeded")), queued,
		m(metricdef.Name("breakwater", metricdef.RejectedTotal, "api", metricdef.LabelReason, "bulkhead_full")), m(metricdef.Name("breakwater", metricdef.FallbackServedTotal, "api")))
	t.Logf("memory pages: start %v, end %v", pages, e.h.MemoryPages())

	if st.Traps != 0 || st.VMReplacements != 0 {
		for _, l := range e.h.Logs() {
			if l.Host {
				t.Logf("host: %s", l)
			}
		}
		t.Fatalf("%d VM traps (%d replacements) under Envoy 1.33 WASI", st.Traps, st.VMReplacements)
	}
	if st.PollOneoff != 0 {
		t.Errorf("poll_oneoff called %d times: the plugin reached a path that waits", st.PollOneoff)
	}
	if st.Requests != total+2 || unexpected.Load() != 0 {
		t.Errorf("requests %d (want %d + the queue step's 2), unexpected statuses %d", st.Requests, total, unexpected.Load())
	}
	// The queue step: the second request waited in the queue (paused) while
	// the first held the only slot, and was admitted once it was freed.
	if queued != 1 || len(queueStatuses) != 2 || queueStatuses[0] != 200 || queueStatuses[1] != 200 {
		t.Errorf("queue step: bulkhead_queued %d while the slot was held (want 1), statuses %v (want 200 200)", queued, queueStatuses)
	}
	if q := m(metricdef.Name("breakwater", metricdef.BulkheadQueued, "queue")); q != 0 {
		t.Errorf("queue step: bulkhead_queued %d once both were answered, want 0", q)
	}
	for name, v := range map[string]uint64{
		"ticks":                   st.Ticks,
		"callouts (global limit)": st.Callouts,
		"router retries":          st.Retries,
		"breaker transitions":     transitions(e.h, "api"),
		"fault delays":            m(metricdef.Name("breakwater", metricdef.FaultDelayedTotal, "api")),
		"fault aborts":            m(metricdef.Name("breakwater", metricdef.FaultAbortedTotal, "api")),
		"deadline_exceeded":       m(metricdef.Name("breakwater", metricdef.RejectedTotal, "api", metricdef.LabelReason, "deadline_exceeded")),
		"circuit_open rejections": m(metricdef.Name("breakwater", metricdef.RejectedTotal, "api", metricdef.LabelReason, "circuit_open")),
		"/smooth rejections": m(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "smooth", metricdef.LabelLimit, "shape")) +
			m(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "smooth", metricdef.LabelLimit, "cap")),
		"global limit rejections":     m(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "mesh", metricdef.LabelLimit, "g")),
		"per-user limit rejections":   m(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "per-user")),
		"fallback responses (served)": m(metricdef.Name("breakwater", metricdef.FallbackServedTotal, "api")),
	} {
		if v == 0 {
			t.Errorf("%s: 0, the load did not reach that path", name)
		}
	}
}
