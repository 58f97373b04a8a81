package devhost

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// routerFixture: one worker, upstream handler, small back-off.
func routerFixture(t *testing.T, handler func(n int, w http.ResponseWriter, r *http.Request), o Options) (*fixture, *upstream) {
	up := newUpstream(t, handler)
	if o.Clusters == nil {
		o.Clusters = map[string]string{"upstream": up.URL}
	}
	if o.Workers == 0 {
		o.Workers = 1
	}
	if o.RetryBaseInterval == 0 {
		o.RetryBaseInterval = time.Millisecond
	}
	return newFixture(t, o), up
}

func failFirst(k, code int) func(n int, w http.ResponseWriter, r *http.Request) {
	return func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= k {
			w.WriteHeader(code)
			io.WriteString(w, "fail")
			return
		}
		io.WriteString(w, "ok")
	}
}

func TestRetriesOn5xx(t *testing.T) {
	f, up := routerFixture(t, failFirst(2, 503), Options{})
	r := f.do("GET", "/r", "", "x-op", "router", "x-set-retry-on", "5xx", "x-set-max-retries", "2")
	if r.status != 200 || r.body != "ok" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	reqs := up.all()
	if len(reqs) != 3 {
		t.Fatalf("upstream saw %d attempts", len(reqs))
	}
	for i, q := range reqs {
		if q.header.Get("X-Envoy-Attempt-Count") != strconv.Itoa(i+1) {
			t.Errorf("attempt %d carried x-envoy-attempt-count %q", i+1, q.header.Get("X-Envoy-Attempt-Count"))
		}
		for _, h := range []string{"X-Envoy-Retry-On", "X-Envoy-Max-Retries", "X-Set-Retry-On"} {
			if h != "X-Set-Retry-On" && q.header.Get(h) != "" {
				t.Errorf("router header %s reached the upstream", h)
			}
		}
		if q.header.Get("X-Envoy-Expected-Rq-Timeout-Ms") == "" {
			t.Error("no x-envoy-expected-rq-timeout-ms (route timeout 15s)")
		}
	}
	if r.header.Get("X-Envoy-Attempt-Count") != "3" || r.header.Get("X-Resp-Attempts") != "3" || r.header.Get("X-Resp-Flags") != "0" {
		t.Errorf("response: attempt-count %q, property %q, flags %q", r.header.Get("X-Envoy-Attempt-Count"),
			r.header.Get("X-Resp-Attempts"), r.header.Get("X-Resp-Flags"))
	}
	if st := f.h.Stats(); st.UpstreamAttempts != 3 || st.Retries != 2 {
		t.Errorf("stats: %d attempts, %d retries", st.UpstreamAttempts, st.Retries)
	}
}

func TestRetriesExhausted(t *testing.T) {
	f, up := routerFixture(t, failFirst(100, 503), Options{})
	r := f.do("GET", "/", "", "x-op", "router", "x-set-retry-on", "gateway-error", "x-set-max-retries", "1")
	if r.status != 503 || r.body != "fail" || up.count() != 2 {
		t.Fatalf("got %d %q after %d attempts", r.status, r.body, up.count())
	}
	if r.header.Get("X-Resp-Flags") != strconv.FormatUint(FlagUpstreamRetryLimitExceeded, 10) ||
		r.header.Get("X-Resp-Details") != "via_upstream" || r.header.Get("X-Resp-Attempts") != "2" {
		t.Errorf("flags %q details %q attempts %q", r.header.Get("X-Resp-Flags"), r.header.Get("X-Resp-Details"), r.header.Get("X-Resp-Attempts"))
	}
	// A status outside the policy is not retried.
	f2, up2 := routerFixture(t, failFirst(100, 500), Options{})
	r = f2.do("GET", "/", "", "x-op", "router", "x-set-retry-on", "gateway-error", "x-set-max-retries", "3")
	if r.status != 500 || up2.count() != 1 || r.header.Get("X-Resp-Flags") != "0" {
		t.Errorf("500 under gateway-error: %d after %d attempts, flags %s", r.status, up2.count(), r.header.Get("X-Resp-Flags"))
	}
	// No policy, no retry; max-retries alone does nothing.
	f3, up3 := routerFixture(t, failFirst(100, 503), Options{})
	f3.do("GET", "/", "", "x-op", "router", "x-set-max-retries", "3")
	if up3.count() != 1 {
		t.Errorf("retried without retry_on: %d attempts", up3.count())
	}
	// retry_on without max-retries: one retry (Envoy's default).
	f4, up4 := routerFixture(t, failFirst(100, 503), Options{})
	f4.do("GET", "/", "", "x-op", "router", "x-set-retry-on", "5xx")
	if up4.count() != 2 {
		t.Errorf("default max retries: %d attempts, want 2", up4.count())
	}
}

func TestRetriableStatusCodes(t *testing.T) {
	f, up := routerFixture(t, failFirst(1, 418), Options{})
	r := f.do("GET", "/", "", "x-op", "router", "x-set-retry-on", "retriable-status-codes",
		"x-set-retriable-status-codes", "409, 418", "x-set-max-retries", "1")
	if r.status != 200 || up.count() != 2 {
		t.Fatalf("got %d after %d attempts", r.status, up.count())
	}
	f2, up2 := routerFixture(t, failFirst(1, 409), Options{})
	r = f2.do("GET", "/", "", "x-op", "router", "x-set-retry-on", "retriable-4xx")
	if r.status != 200 || up2.count() != 2 {
		t.Fatalf("retriable-4xx: %d after %d attempts", r.status, up2.count())
	}
}

// The router's timers run on the wall clock (they govern real I/O), so the
// per-try and global timeouts below are 1s: long enough for a loopback
// request to reach the upstream first on any machine (they were 50-60ms),
// short enough to keep the tests quick. The upstream never answers the
// attempt that must time out.
func TestPerTryTimeout(t *testing.T) {
	slowFirst := func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-r.Context().Done() // never answers: the per-try timeout must end it
			return
		}
		io.WriteString(w, "ok")
	}
	f, up := routerFixture(t, slowFirst, Options{})
	r := f.do("GET", "/", "", "x-op", "router", "x-set-upstream-rq-per-try-timeout-ms", "1000", "x-set-retry-on", "5xx")
	if r.status != 200 || up.count() != 2 || r.header.Get("X-Envoy-Attempt-Count") != "2" {
		t.Fatalf("got %d after %d attempts", r.status, up.count())
	}
	if v := up.all()[0].header.Get("X-Envoy-Expected-Rq-Timeout-Ms"); v != "1000" {
		t.Errorf("expected timeout on a per-try attempt = %q", v)
	}
	// Without a retry policy the per-try timeout ends the request: 504 UT.
	f2, _ := routerFixture(t, slowFirst, Options{})
	r = f2.do("GET", "/", "", "x-op", "router", "x-set-upstream-rq-per-try-timeout-ms", "1000")
	if r.status != 504 || r.body != "upstream request timeout" || r.header.Get("X-Resp-Flags") != "4" ||
		r.header.Get("X-Resp-Details") != "upstream_per_try_timeout" {
		t.Errorf("per-try timeout: %d %q flags %s details %s", r.status, r.body, r.header.Get("X-Resp-Flags"), r.header.Get("X-Resp-Details"))
	}
}

func TestGlobalTimeout(t *testing.T) {
	slow := func(n int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers: the global timeout must end it
	}
	f, up := routerFixture(t, slow, Options{})
	r := f.do("GET", "/", "", "x-op", "router", "x-set-upstream-rq-timeout-ms", "1000", "x-set-retry-on", "5xx", "x-set-max-retries", "5")
	if r.status != 504 || r.header.Get("X-Resp-Flags") != "4" || r.header.Get("X-Resp-Details") != "upstream_response_timeout" {
		t.Fatalf("got %d flags %s details %s", r.status, r.header.Get("X-Resp-Flags"), r.header.Get("X-Resp-Details"))
	}
	if up.count() != 1 {
		t.Errorf("a global timeout is not retried: %d attempts", up.count())
	}
	if v, _ := strconv.Atoi(up.last().header.Get("X-Envoy-Expected-Rq-Timeout-Ms")); v <= 0 || v > 1000 {
		t.Errorf("expected timeout %d", v)
	}
	e, _ := f.h.findLog("guest: log ctx=")
	if !strings.Contains(e.Message, "code=504") || !strings.Contains(e.Message, "flags=4 ") {
		t.Errorf("on_log: %q", e.Message)
	}
	// The alternative response.
	r = f.do("GET", "/", "", "x-op", "router", "x-set-upstream-rq-timeout-ms", "30", "x-set-upstream-rq-timeout-alt-response", "1")
	if r.status != 204 {
		t.Errorf("alt response: %d", r.status)
	}
}

func TestConnectFailureRetries(t *testing.T) {
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": closedURL(t)}, Workers: 1, RetryBaseInterval: time.Millisecond})
	r := f.do("GET", "/", "", "x-op", "router", "x-set-retry-on", "connect-failure", "x-set-max-retries", "2")
	want := FlagUpstreamConnectionFailure | FlagUpstreamRetryLimitExceeded
	if r.status != 503 || r.header.Get("X-Resp-Flags") != strconv.FormatUint(want, 10) || r.header.Get("X-Resp-Attempts") != "3" ||
		r.header.Get("X-Resp-Details") != "upstream_reset_before_response_started{connection_failure}" ||
		!strings.Contains(r.body, "reset reason: connection failure") {
		t.Fatalf("got %d %q flags %s attempts %s details %s", r.status, r.body, r.header.Get("X-Resp-Flags"),
			r.header.Get("X-Resp-Attempts"), r.header.Get("X-Resp-Details"))
	}
	// gateway-error also retries resets.
	f.do("GET", "/", "", "x-op", "router", "x-set-retry-on", "gateway-error", "x-set-max-retries", "1")
	if st := f.h.Stats(); st.UpstreamAttempts != 5 {
		t.Errorf("attempts = %d, want 3+2", st.UpstreamAttempts)
	}
}

func TestUpstreamResetMidResponse(t *testing.T) {
	// The upstream accepts and closes without a response: connection termination (UC).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			c.Read(buf)
			c.Close()
		}
	}()
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": "http://" + l.Addr().String()}, Workers: 1})
	r := f.do("GET", "/", "", "x-op", "router")
	if r.status != 503 || r.header.Get("X-Resp-Flags") != strconv.FormatUint(FlagUpstreamConnectionTermination, 10) {
		t.Fatalf("got %d flags %s details %s", r.status, r.header.Get("X-Resp-Flags"), r.header.Get("X-Resp-Details"))
	}
}

func TestConcurrentRetryLimit(t *testing.T) {
	// Retries in back-off are capped per cluster (Envoy's max_retries breaker, default 3).
	f, up := routerFixture(t, failFirst(1000, 503), Options{Workers: 2, RetryBaseInterval: 200 * time.Millisecond,
		RetryMaxInterval: 200 * time.Millisecond, MaxConcurrentRetries: 2, RetrySeed: 1})
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.do("GET", "/", "", "x-op", "router", "x-set-retry-on", "5xx", "x-set-max-retries", "1")
		}()
	}
	wg.Wait()
	st := f.h.Stats()
	if st.Retries+st.RetryOverflow != 6 || st.RetryOverflow == 0 || st.Retries < 2 {
		t.Errorf("retries %d, overflow %d (6 requests wanting one retry each, at most 2 at a time)", st.Retries, st.RetryOverflow)
	}
	if uint64(up.count()) != 6+st.Retries {
		t.Errorf("upstream attempts %d", up.count())
	}
}

func TestBackoffCeiling(t *testing.T) {
	base, max := 25*time.Millisecond, 250*time.Millisecond
	for n, want := range map[int]time.Duration{1: 25 * time.Millisecond, 2: 75 * time.Millisecond, 3: 175 * time.Millisecond,
		4: 250 * time.Millisecond, 10: 250 * time.Millisecond, 64: 250 * time.Millisecond} {
		if got := BackoffCeiling(n, base, max); got != want {
			t.Errorf("BackoffCeiling(%d) = %v, want %v", n, got, want)
		}
	}
	h := &Host{opts: Options{RetryBaseInterval: base, RetryMaxInterval: max}}
	h.retryRand = newTestRand()
	for n := 1; n <= 5; n++ {
		ceil := BackoffCeiling(n, base, max)
		var maxSeen time.Duration
		for i := 0; i < 2000; i++ {
			d := h.backoff(n)
			if d < 0 || d >= ceil {
				t.Fatalf("backoff(%d) = %v outside [0, %v)", n, d, ceil)
			}
			if d > maxSeen {
				maxSeen = d
			}
		}
		if maxSeen < ceil*9/10 {
			t.Errorf("backoff(%d) never came near its ceiling %v (max %v): not uniform", n, ceil, maxSeen)
		}
	}
}

func TestNoCluster(t *testing.T) {
	f := newFixture(t, Options{Clusters: map[string]string{"other": closedURL(t)}, UpstreamCluster: "missing", Workers: 1})
	r := f.do("GET", "/", "", "x-op", "router")
	if r.status != 503 || r.header.Get("X-Resp-Flags") != strconv.FormatUint(FlagNoClusterFound, 10) ||
		r.header.Get("X-Resp-Details") != "cluster_not_found" {
		t.Fatalf("got %d flags %s details %s", r.status, r.header.Get("X-Resp-Flags"), r.header.Get("X-Resp-Details"))
	}
}

func TestFlagString(t *testing.T) {
	if s := FlagString(FlagUpstreamConnectionFailure | FlagUpstreamRetryLimitExceeded); s != "UF,URX" {
		t.Error(s)
	}
	if s := FlagString(0); s != "-" {
		t.Error(s)
	}
}
