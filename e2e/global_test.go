package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/testsvc"
)

// TestGlobalLimitThroughRateLimitService: the real envoyproxy/ratelimit
// service (HTTP POST /json) backed by a real Redis decides a limit of 7 per
// hour per user (descriptor "user", from x-user-id), configured in the
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
// The service counts per calendar hour (its own wall clock, in its own
// process): a run whose traffic crosses an hour boundary is not
// meaningful, so it is repeated with fresh user names (the traffic takes
// well under an hour, so the second run stays within one) instead of
// waiting for a boundary to pass.
func TestGlobalLimitThroughRateLimitService(t *testing.T) {
	const perHour = 7
	redis := testsvc.Redis(t)
	rlURL := testsvc.RateLimit(t, redis, fmt.Sprintf(`domain: breakwater
descriptors:
  - key: user
    rate_limit:
      unit: hour
      requests_per_unit: %d
`, perHour))
	up := newUpstream(t, ok)
	cfg := `{"policies":[{"name":"mesh","rate_limit":{
 "limits":[{"name":"users","scope":"global","key":["header:x-user-id"],"descriptor_key":"user"}],
 "service":{"cluster":"ratelimit","domain":"breakwater","timeout":"2s","failure_mode":"deny"}}}]}`
	opts := devhost.Options{PluginConfig: []byte(cfg), UpstreamCluster: "upstream",
		Clusters: map[string]string{"upstream": up.URL, "ratelimit": rlURL}}
	a := newEnv(t, opts)
	b := newEnv(t, opts)

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
				if headerInt(r.header, "RateLimit-Limit") != perHour || rem < 0 || rem >= perHour || remaining[u][rem] {
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
	runs := 0
	for ; ; runs++ {
		if runs == 2 {
			t.Fatalf("the traffic crossed an hour boundary twice")
		}
		hour := time.Now().Truncate(time.Hour)
		// Fresh names per run: the service keeps the counts of a previous one.
		n := func(u string) string { return fmt.Sprintf("%s-%d-%d", u, time.Now().UnixNano(), runs) }
		alice, bob, erin := n("alice"), n("bob"), n("erin")
		usersA := []string{alice, bob, n("carol"), n("dave")}
		up0 := up.count()
		gotA := burst(a, usersA, 30)
		gotB := burst(b, []string{alice, bob, erin}, 20)
		if !time.Now().Truncate(time.Hour).Equal(hour) {
			t.Logf("the traffic crossed an hour boundary: run again with fresh users")
			continue
		}
		for _, u := range usersA {
			if gotA[u] != perHour {
				t.Errorf("host A: %s admitted %d, want exactly %d (all: %v)", u, gotA[u], perHour, gotA)
			}
		}
		if up.count()-up0 != int64(len(usersA)*perHour+perHour) {
			t.Errorf("upstream saw %d, want %d", up.count()-up0, len(usersA)*perHour+perHour)
		}
		if gotB[alice] != 0 || gotB[bob] != 0 || gotB[erin] != perHour {
			t.Errorf("host B: admitted %v, want alice 0, bob 0 (spent through host A), erin %d", gotB, perHour)
		}
		break
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
	if n := metric(a.h, metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "mesh", metricdef.LabelLimit, "users")); n != uint64((runs+1)*4*(30-perHour)) {
		t.Errorf("host A limited_total %d, want %d", n, (runs+1)*4*(30-perHour))
	}
}

// TestGlobalLimitUnknownClusterWarns: a global limit whose service cluster
// the host does not know (the dev host, like Envoy, answers proxy_http_call
// with BadArgument) gives one warning per minute of the plugin's clock,
// naming the policy, the limit and the cluster, and counts every failure;
// failure_mode allow lets the requests through. The host's manual clock
// moves the minute; one worker VM, so the count per worker is exact.
func TestGlobalLimitUnknownClusterWarns(t *testing.T) {
	up := newUpstream(t, ok)
	clock := devhost.NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := `{"policies":[{"name":"mesh","rate_limit":{
 "limits":[{"name":"users","scope":"global","key":["header:x-user-id"],"descriptor_key":"user"}],
 "service":{"cluster":"no-such-cluster","domain":"breakwater","timeout":"100ms"}}}]}`
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Workers: 1, Clock: clock,
		Clusters: map[string]string{"upstream": up.URL}})
	warnings := func() []string {
		var out []string
		for _, l := range e.h.Logs() {
			if l.Level == devhost.LogWarn && strings.Contains(l.Message, "rate limit service") {
				out = append(out, l.Message)
			}
		}
		return out
	}
	send := func(n int) {
		for i := 0; i < n; i++ {
			if rec := serve(e.h, "GET", "/", "x-user-id", "alice"); rec.Code != http.StatusOK {
				t.Fatalf("status %d, want 200 (failure_mode allow)", rec.Code)
			}
		}
	}
	send(10)
	want := `breakwater: policy "mesh": global limit(s) "users": rate limit service cluster "no-such-cluster" is unknown to the host (proxy_http_call: bad argument)`
	if ws := warnings(); len(ws) != 1 || !strings.HasPrefix(ws[0], want) {
		t.Fatalf("warnings %q, want one starting %q", ws, want)
	}
	clock.Advance(59 * time.Second)
	send(5)
	if ws := warnings(); len(ws) != 1 {
		t.Fatalf("warned again within the minute: %q", ws)
	}
	clock.Advance(time.Second)
	send(1)
	if ws := warnings(); len(ws) != 2 || !strings.Contains(ws[1], "(15 such failure(s)") {
		t.Fatalf("after a minute: %q", warnings())
	}
	if n := metric(e.h, metricdef.Name("breakwater", metricdef.RateLimitServiceFailuresTotal, "mesh")); n != 16 {
		t.Errorf("service_failures_total %d, want 16", n)
	}
	checkNoTraps(t, e.h)
}
