package e2e

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
)

// attemptRecorder is an upstream behaviour that fails the first attempt of
// every request (x-envoy-attempt-count 1, set by the router) with 503 and
// answers later attempts with 200, recording the attempt numbers and
// whether a router directive leaked upstream.
type attemptRecorder struct {
	mu       sync.Mutex
	attempts map[string]int // x-envoy-attempt-count value -> requests
	leaked   []string
}

func (a *attemptRecorder) serve(_ int64, w http.ResponseWriter, r *http.Request) {
	n := r.Header.Get("x-envoy-attempt-count")
	a.mu.Lock()
	a.attempts[n]++
	for _, h := range []string{"x-envoy-max-retries", "x-envoy-retry-on", "x-envoy-retriable-status-codes",
		"x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms"} {
		if v := r.Header.Get(h); v != "" {
			a.leaked = append(a.leaked, h+": "+v)
		}
	}
	a.mu.Unlock()
	if n == "1" {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok"))
}

func (a *attemptRecorder) get() (map[string]int, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := map[string]int{}
	for k, v := range a.attempts {
		m[k] = v
	}
	return m, append([]string(nil), a.leaked...)
}

// TestRetryThroughRouterDirectives: the upstream fails every first attempt.
// The retry is performed by the dev host's router (Envoy's), steered only by
// the headers the filter sets; a client cannot steer it (x-envoy-* headers
// from an external client are removed before the filter runs).
//
//   - GET on the retry policy, 20 concurrent clients: every response is 200
//     with x-envoy-attempt-count 2; the upstream saw exactly 20 first and 20
//     second attempts and never a router directive.
//   - A policy without retry, with the client sending x-envoy-max-retries
//     and x-envoy-retry-on itself: 503 after 1 attempt.
//   - POST (not in retry.methods): 503 after 1 attempt.
//   - An upstream that always fails: 1 + max_retries (2) attempts, then the
//     503 goes to the client.
func TestRetryThroughRouterDirectives(t *testing.T) {
	rec := &attemptRecorder{attempts: map[string]int{}}
	up := newUpstream(t, rec.serve)
	cfg := `{"policies":[
 {"name":"retried","match":{"path_prefix":"/retry"},"retry":{"max_retries":2,"retry_on":["5xx"]}},
 {"name":"plain","match":{"path_prefix":"/plain"},"timeout":{"request":"5s"}}]}`
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clusters: map[string]string{"upstream": up.URL},
		RetryBaseInterval: time.Millisecond, MaxConcurrentRetries: -1})

	const clients = 20
	rs := make([]result, clients)
	parallel(clients, func(i int) { rs[i] = e.do("GET", "/retry/x") })
	for _, r := range rs {
		if r.status != http.StatusOK || r.header.Get("X-Envoy-Attempt-Count") != "2" || r.body != "ok" {
			t.Fatalf("retried GET: %v attempt-count %q, want 200 after 2 attempts", r, r.header.Get("X-Envoy-Attempt-Count"))
		}
	}
	att, leaked := rec.get()
	if att["1"] != clients || att["2"] != clients || len(att) != 2 || up.count() != 2*clients {
		t.Fatalf("upstream attempts by number %v (total %d), want %d first and %d second attempts", att, up.count(), clients, clients)
	}
	if len(leaked) != 0 {
		t.Errorf("router directives reached the upstream: %v", leaked)
	}
	if st := e.h.Stats(); st.Retries != clients {
		t.Errorf("host retries %d, want %d", st.Retries, clients)
	}

	// No retry block: the client's own directives are removed, no retry.
	before := up.count()
	r := e.do("GET", "/plain", "x-envoy-max-retries", "3", "x-envoy-retry-on", "5xx")
	if r.status != http.StatusServiceUnavailable || r.header.Get("X-Envoy-Attempt-Count") != "1" || up.count()-before != 1 {
		t.Errorf("policy without retry: %v attempt-count %q, upstream +%d; want 503 after 1 attempt",
			r, r.header.Get("X-Envoy-Attempt-Count"), up.count()-before)
	}
	// POST is not in the default retry methods.
	before = up.count()
	r = e.do("POST", "/retry/x")
	if r.status != http.StatusServiceUnavailable || r.header.Get("X-Envoy-Attempt-Count") != "1" || up.count()-before != 1 {
		t.Errorf("POST: %v attempt-count %q, upstream +%d; want 503 after 1 attempt",
			r, r.header.Get("X-Envoy-Attempt-Count"), up.count()-before)
	}
	// Always failing: 1 + max_retries attempts.
	up.set(failing(http.StatusServiceUnavailable))
	before = up.count()
	r = e.do("GET", "/retry/y")
	if r.status != http.StatusServiceUnavailable || r.header.Get("X-Envoy-Attempt-Count") != "3" || up.count()-before != 3 {
		t.Errorf("always failing: %v attempt-count %q, upstream +%d; want 503 after 3 attempts",
			r, r.header.Get("X-Envoy-Attempt-Count"), up.count()-before)
	}
	checkNoTraps(t, e.h)
}

// TestRetryBudgetStopsRetries: budget ratio 0 + min_per_second 5, so at most
// 5 retries per sliding second across the 4 VMs; the plugin clock is frozen
// so the second never slides during a burst; the router's own retry
// circuit breaker is off (MaxConcurrentRetries -1) so only the budget limits.
//
//   - 10 successful requests one after the other: each reserves a retry and
//     gives it back unused (x-envoy-attempt-count 1): nothing is spent, no
//     request is denied.
//   - the upstream fails everything; 40 concurrent requests: exactly 5 are
//     retried (upstream attempts 45, 5 responses with attempt count 2), 35
//     are denied retries (retry.budget_exhausted_total 35).
//   - one second later (budget refilled): 10 more concurrent requests,
//     exactly 5 retried again.
func TestRetryBudgetStopsRetries(t *testing.T) {
	up := newUpstream(t, ok)
	cfg := `{"policies":[{"name":"api","retry":{"max_retries":1,"retry_on":["5xx"],
 "budget":{"ratio":0,"min_per_second":5}}}]}`
	clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clock: clock, Clusters: map[string]string{"upstream": up.URL},
		RetryBaseInterval: time.Millisecond, MaxConcurrentRetries: -1})

	for i := 0; i < 10; i++ {
		if r := e.do("GET", "/a"); r.status != http.StatusOK || r.header.Get("X-Envoy-Attempt-Count") != "1" {
			t.Fatalf("healthy request %d: %v", i, r)
		}
	}
	if n := metric(e.h, metricdef.Name("breakwater", metricdef.RetryBudgetExhaustedTotal, "api")); n != 0 {
		t.Fatalf("budget_exhausted_total %d after sequential successes, want 0 (unused retries are given back)", n)
	}

	up.set(failing(http.StatusServiceUnavailable))
	burst := func(n int) (retried, attempts int64) {
		before, beforeRetries := up.count(), e.h.Stats().Retries
		rs := make([]result, n)
		parallel(n, func(i int) { rs[i] = e.do("GET", "/b") })
		for _, r := range rs {
			if r.status != http.StatusServiceUnavailable {
				t.Fatalf("failing upstream: %v", r)
			}
			switch r.header.Get("X-Envoy-Attempt-Count") {
			case "2":
				retried++
			case "1":
			default:
				t.Fatalf("attempt count %q", r.header.Get("X-Envoy-Attempt-Count"))
			}
		}
		if hr := int64(e.h.Stats().Retries - beforeRetries); hr != retried {
			t.Errorf("host performed %d retries, responses say %d", hr, retried)
		}
		return retried, up.count() - before
	}
	retried, attempts := burst(40)
	if retried != 5 || attempts != 45 {
		t.Fatalf("40 failing requests: %d retried, upstream attempts %d; want exactly 5 and 45", retried, attempts)
	}
	if n := metric(e.h, metricdef.Name("breakwater", metricdef.RetryBudgetExhaustedTotal, "api")); n != 35 {
		t.Errorf("budget_exhausted_total %d, want 35", n)
	}
	clock.Advance(time.Second)
	retried, attempts = burst(10)
	if retried != 5 || attempts != 15 {
		t.Fatalf("a second later, 10 failing requests: %d retried, upstream attempts %d; want exactly 5 and 15", retried, attempts)
	}
	checkNoTraps(t, e.h)
}
