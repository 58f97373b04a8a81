package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
)

// TestRateLimitExactAcrossWorkers: 200 concurrent clients (real sockets)
// hit one limit of 50 requests per minute; the host spreads them round-robin
// over 4 VMs, each with its own Go heap, so the only way to be exact is the
// shared-data state updated by compare-and-swap. The plugin clock is frozen
// (ManualClock) so no refill or window change can blur the count. For every
// algorithm: exactly 50 reach the upstream with 200, each admitted response
// carries a distinct RateLimit-Remaining in 0..49 (every token handed out
// once), the other 150 are 429 rate_limited with RateLimit-* and Retry-After,
// and the limited_total counter says 150.
func TestRateLimitExactAcrossWorkers(t *testing.T) {
	const limit, clients = 50, 200
	algos := []struct {
		algo, extra string
	}{
		{"token_bucket", ""},
		{"gcra", ""},
		{"fixed_window", ""},
		{"sliding_window", ""},
		// max_delay far below the 1.2s spacing: beyond the burst nothing can be
		// delayed into the frozen future, so it is rejected at once.
		{"leaky_bucket", `,"max_delay":"1ms"`},
	}
	for _, a := range algos {
		t.Run(a.algo, func(t *testing.T) {
			up := newUpstream(t, ok)
			cfg := fmt.Sprintf(`{"policies":[{"name":"orders","match":{"path_prefix":"/orders"},
 "rate_limit":{"limits":[{"name":"all","algorithm":%q,"requests":%d,"per":"1m"%s}]}}]}`, a.algo, limit, a.extra)
			// 30s into a minute: a fixed window never ends during the test.
			clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC))
			e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clock: clock,
				Clusters: map[string]string{"upstream": up.URL}})
			rs := make([]result, clients)
			rs[0] = e.do("GET", "/orders/0") // creates the key, see above
			parallel(clients-1, func(i int) { rs[i+1] = e.do("GET", fmt.Sprintf("/orders/%d", i+1)) })

			var remaining []int
			admitted, limited := 0, 0
			for _, r := range rs {
				switch {
				case r.err != nil:
					t.Fatalf("client error: %v", r.err)
				case r.status == http.StatusOK:
					admitted++
					if got := headerInt(r.header, "RateLimit-Limit"); got != limit {
						t.Errorf("admitted: RateLimit-Limit %d, want %d", got, limit)
					}
					remaining = append(remaining, headerInt(r.header, "RateLimit-Remaining"))
					if r.header.Get("X-Breakwater-Policy") != "orders" {
						t.Errorf("admitted without x-breakwater-policy: %v", r.header)
					}
				case r.status == http.StatusTooManyRequests && r.reason() == "rate_limited":
					limited++
					if headerInt(r.header, "RateLimit-Remaining") != 0 || headerInt(r.header, "RateLimit-Limit") != limit ||
						headerInt(r.header, "Retry-After") < 1 || headerInt(r.header, "RateLimit-Reset") < 1 {
						t.Errorf("429 headers: RateLimit-Limit %q Remaining %q Reset %q Retry-After %q",
							r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"),
							r.header.Get("RateLimit-Reset"), r.header.Get("Retry-After"))
					}
				default:
					t.Errorf("unexpected response %v", r)
				}
			}
			if admitted != limit || limited != clients-limit || up.count() != limit {
				t.Fatalf("admitted %d, limited %d, upstream saw %d; want exactly %d/%d/%d (%v); remaining %v",
					admitted, limited, up.count(), limit, clients-limit, limit, tally(rs), remaining)
			}
			sort.Ints(remaining)
			for i, v := range remaining {
				if v != i {
					t.Fatalf("RateLimit-Remaining of the admitted requests %v: want each of 0..%d exactly once", remaining, limit-1)
				}
			}
			if got := metric(e.h, metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "orders", metricdef.LabelLimit, "all")); got != clients-limit {
				t.Errorf("limited_total %d, want %d", got, clients-limit)
			}
			if got := metric(e.h, metricdef.Name("breakwater", metricdef.RejectedTotal, "orders", metricdef.LabelReason, "rate_limited")); got != clients-limit {
				t.Errorf("rejected_total.rate_limited %d, want %d", got, clients-limit)
			}
			if got := metric(e.h, metricdef.Name("breakwater", metricdef.RequestsTotal, "orders")); got != clients {
				t.Errorf("requests_total %d, want %d", got, clients)
			}
			checkNoTraps(t, e.h)
		})
	}
}

// TestRateLimitMultiLevelAcrossWorkers: per-user 10/min AND a global 25/min
// on one policy, 5 users x 20 concurrent requests over 4 VMs, frozen clock.
// Every user is capped at 10 and the total at 25, and a request rejected by
// the global level consumes nothing of its user's allowance: the admitted
// total is exactly 25. One request per user goes first, alone, to create
// the keys (see TestRateLimitExactAcrossWorkers).
func TestRateLimitMultiLevelAcrossWorkers(t *testing.T) {
	up := newUpstream(t, ok)
	cfg := `{"policies":[{"name":"api","rate_limit":{"limits":[
 {"name":"per-user","key":["header:x-user-id"],"requests":10,"per":"1m"},
 {"name":"global","algorithm":"fixed_window","requests":25,"per":"1m"}]}}]}`
	clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC))
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clock: clock,
		Clusters: map[string]string{"upstream": up.URL}})
	const users, each = 5, 20
	rs := make([]result, users*each)
	for i := 0; i < users; i++ {
		rs[i] = e.do("GET", "/api", "x-user-id", fmt.Sprint("user-", i%users))
	}
	parallel(users*each-users, func(i int) {
		rs[i+users] = e.do("GET", "/api", "x-user-id", fmt.Sprint("user-", (i+users)%users))
	})
	per := map[string]int{}
	total := 0
	for i, r := range rs {
		if r.status == http.StatusOK {
			per[fmt.Sprint("user-", i%users)]++
			total++
		} else if r.status != http.StatusTooManyRequests || r.reason() != "rate_limited" {
			t.Errorf("unexpected %v", r)
		}
	}
	for u, n := range per {
		if n > 10 {
			t.Errorf("%s admitted %d > its 10", u, n)
		}
	}
	if total != 25 || up.count() != 25 {
		t.Fatalf("admitted %d (upstream %d), want exactly the global 25; per user %v", total, up.count(), per)
	}
	userLimited := metric(e.h, metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "per-user"))
	globalLimited := metric(e.h, metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "global"))
	if userLimited+globalLimited != users*each-25 {
		t.Errorf("limited per-user %d + global %d, want %d", userLimited, globalLimited, users*each-25)
	}
	checkNoTraps(t, e.h)
}

// TestRateLimitCreationRace: 20 users whose limit keys do not exist yet,
// each hit by a burst of 12 concurrent requests (limit 5 per minute, frozen
// clock) over 4 VMs. Workers race to create the same shared-data key; the
// creating write is a CAS (store.CreateCAS), so no worker overwrites
// another's update and every user is admitted exactly 5 times. (With the
// unconditional cas 0 this test saw up to 9 admitted for a limit of 5.) A
// minute later, all users at once, exactly 5 per user again.
func TestRateLimitCreationRace(t *testing.T) {
	up := newUpstream(t, ok)
	cfg := `{"policies":[{"name":"api","rate_limit":{"limits":[
 {"name":"per-user","key":["header:x-user-id"],"requests":5,"per":"1m"}]}}]}`
	clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC))
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clock: clock,
		Clusters: map[string]string{"upstream": up.URL}})
	const users, burst = 20, 12
	first := make([]int, users)
	for u := 0; u < users; u++ {
		rs := make([]result, burst)
		parallel(burst, func(i int) { rs[i] = e.do("GET", "/api", "x-user-id", fmt.Sprint("fresh-", u)) })
		tl := tally(rs)
		first[u] = tl["200 "]
		if tl["200 "]+tl["429 rate_limited"] != burst || first[u] != 5 {
			t.Fatalf("user %d first burst on a fresh key: %v, want exactly 5 admitted and the rest rate_limited", u, tl)
		}
	}
	clock.Advance(time.Minute)
	rs := make([]result, users*burst)
	parallel(len(rs), func(i int) { rs[i] = e.do("GET", "/api", "x-user-id", fmt.Sprint("fresh-", i%users)) })
	per := make([]int, users)
	for i, r := range rs {
		if r.status == http.StatusOK {
			per[i%users]++
		} else if r.status != http.StatusTooManyRequests {
			t.Fatalf("second burst: %v", r)
		}
	}
	for u, n := range per {
		if n != 5 {
			t.Fatalf("second burst on existing keys: admitted per user %v, want exactly 5 each (user %d)", per, u)
		}
	}
	checkNoTraps(t, e.h)
}
