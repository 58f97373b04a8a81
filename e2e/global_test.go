package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/testsvc"
)

// TestGlobalLimitThroughRateLimitService: the real envoyproxy/ratelimit
// service (HTTP POST /json) backed by a real Redis decides a limit of 7 per
// minute per user (descriptor "user", from x-user-id), configured in the
// service's own YAML. The filter asks it once per request, from any of the 4
// VMs (an http callout to the cluster "ratelimit"), pausing the request
// until the answer.
//
//   - 4 users x 30 concurrent requests through host A: exactly 7 admitted per
//     user (the upstream sees 28), each with RateLimit-Limit 7 and a distinct
//     RateLimit-Remaining (the service's counts), the rest 429 rate_limited
//     with Retry-After;
//   - host B, a second proxy with its own shared data and VMs, on the same
//     service: the users of host A get nothing more (the count is in Redis,
//     mesh-wide), a new user gets exactly 7;
//   - no call to the service failed (failure_mode deny would have turned a
//     failure into a rejection, so the exact counts also prove it).
//
// The service counts per calendar minute: the test starts its traffic with
// at least 15 seconds left in the current minute (waiting for the next one
// otherwise), and the traffic takes a few hundred milliseconds.
func TestGlobalLimitThroughRateLimitService(t *testing.T) {
	const perMinute = 7
	redis := testsvc.Redis(t)
	rlURL := testsvc.RateLimit(t, redis, fmt.Sprintf(`domain: breakwater
descriptors:
  - key: user
    rate_limit:
      unit: minute
      requests_per_unit: %d
`, perMinute))
	up := newUpstream(t, ok)
	cfg := `{"policies":[{"name":"mesh","rate_limit":{
 "limits":[{"name":"users","scope":"global","key":["header:x-user-id"],"descriptor_key":"user"}],
 "service":{"cluster":"ratelimit","domain":"breakwater","timeout":"2s","failure_mode":"deny"}}}]}`
	opts := devhost.Options{PluginConfig: []byte(cfg), UpstreamCluster: "upstream",
		Clusters: map[string]string{"upstream": up.URL, "ratelimit": rlURL}}
	a := newEnv(t, opts)
	b := newEnv(t, opts)

	if s := time.Now().Second(); s > 45 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
	minute := time.Now().Truncate(time.Minute)

	// Burst counts admitted requests per user.
	burst := func(e *env, users []string, each int) map[string]int {
		t.Helper()
		rs := make([]result, len(users)*each)
		parallel(len(rs), func(i int) { rs[i] = e.do("GET", "/api", "x-user-id", users[i%len(users)]) })
		admitted := map[string]int{}
		remaining := map[string]map[int]bool{}
		for i, r := range rs {
			switch {
			case r.status == http.StatusOK:
				u := users[i%len(users)]
				admitted[u]++
				// The service's answer comes back as the RateLimit headers.
				rem := headerInt(r.header, "RateLimit-Remaining")
				if headerInt(r.header, "RateLimit-Limit") != perMinute || rem < 0 || rem >= perMinute || remaining[u][rem] {
					t.Errorf("admitted %s: RateLimit-Limit %q Remaining %q (seen %v)", u,
						r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"), remaining[u])
				}
				if remaining[u] == nil {
					remaining[u] = map[int]bool{}
				}
				remaining[u][rem] = true
			case r.status == http.StatusTooManyRequests && r.reason() == "rate_limited" &&
				r.header.Get("X-Breakwater-Policy") == "mesh" && headerInt(r.header, "Retry-After") >= 1:
			default:
				t.Fatalf("unexpected response %v (Retry-After %q)", r, r.header.Get("Retry-After"))
			}
		}
		return admitted
	}
	usersA := []string{"alice", "bob", "carol", "dave"}
	got := burst(a, usersA, 30)
	for _, u := range usersA {
		if got[u] != perMinute {
			t.Errorf("host A: %s admitted %d, want exactly %d (all: %v)", u, got[u], perMinute, got)
		}
	}
	if up.count() != int64(len(usersA)*perMinute) {
		t.Errorf("upstream saw %d, want %d", up.count(), len(usersA)*perMinute)
	}
	got = burst(b, []string{"alice", "bob", "erin"}, 20)
	if got["alice"] != 0 || got["bob"] != 0 || got["erin"] != perMinute {
		t.Errorf("host B: admitted %v, want alice 0, bob 0 (spent through host A), erin %d", got, perMinute)
	}
	if now := time.Now().Truncate(time.Minute); !now.Equal(minute) {
		t.Fatalf("the traffic crossed a minute boundary (%v -> %v): the counts above are not meaningful", minute, now)
	}
	for _, e := range []*env{a, b} {
		if n := metric(e.h, metricdef.Name("breakwater", metricdef.RateLimitServiceFailuresTotal, "mesh")); n != 0 {
			t.Errorf("service_failures_total %d, want 0", n)
		}
		if st := e.h.Stats(); st.Callouts != st.Requests {
			t.Errorf("callouts %d for %d requests, want one per request", st.Callouts, st.Requests)
		}
		checkNoTraps(t, e.h)
	}
	if n := metric(a.h, metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "mesh", metricdef.LabelLimit, "users")); n != uint64(len(usersA)*(30-perMinute)) {
		t.Errorf("host A limited_total %d, want %d", n, len(usersA)*(30-perMinute))
	}
}
