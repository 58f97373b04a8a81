package devhost

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
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

// routerClockStart is where the router tests' manual clocks stand.
var routerClockStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// goDo sends one request in its own goroutine; its result arrives on the
// channel returned.
func (f *fixture) goDo(method, path string, kv ...string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := f.try(context.Background(), method, path, "", kv...)
		if err != nil {
			r = result{status: -1, body: err.Error()}
		}
		ch <- r
	}()
	return ch
}

// assertPending fails unless exactly n timers wait on clk (the router's
// timeouts and back-offs: the test guest sets no tick).
func assertPending(t *testing.T, clk *ManualClock, n int, when string) {
	t.Helper()
	if p := clk.Pending(); p != n {
		t.Fatalf("%s: %d timers pending, want %d", when, p, n)
	}
}

// The router's timers run on a manual clock (RouterOnClock): an attempt
// times out only when the test moves the clock past its timeout, so
// nothing below depends on how fast the loopback upstream is reached.
// The upstream reports each attempt's arrival on a channel; an attempt
// that must time out never answers.
func TestPerTryTimeout(t *testing.T) {
	clk := NewManualClock(routerClockStart)
	arrived := make(chan int, 4)
	release := make(chan struct{})
	handler := func(n int, w http.ResponseWriter, r *http.Request) {
		arrived <- n
		if n == 1 {
			<-r.Context().Done() // never answers: the per-try timeout must end it
			return
		}
		<-release
		io.WriteString(w, "ok")
	}
	f, up := routerFixture(t, handler, Options{Clock: clk, RouterOnClock: true, RetryBaseInterval: 10 * time.Millisecond, RetrySeed: 1})
	done := f.goDo("GET", "/", "x-op", "router", "x-set-upstream-rq-per-try-timeout-ms", "1000", "x-set-retry-on", "5xx")
	if n := <-arrived; n != 1 {
		t.Fatalf("first arrival is attempt %d", n)
	}
	assertPending(t, clk, 2, "attempt 1 in flight") // route timeout (15s) + per-try
	clk.Advance(999 * time.Millisecond)
	assertPending(t, clk, 2, "999ms into attempt 1")
	clk.Advance(time.Millisecond) // the per-try timeout: attempt 1 ends, a retry backs off
	// The back-off (uniform in [0, 10ms)) waits on the clock; 2 timers again
	// once it does (route timeout + back-off).
	eventually(t, "the back-off timer", func() bool { return clk.Pending() == 2 })
	clk.Advance(10 * time.Millisecond) // past any back-off of the first retry
	if n := <-arrived; n != 2 {
		t.Fatalf("second arrival is attempt %d", n)
	}
	close(release)
	r := <-done
	if r.status != 200 || r.body != "ok" || up.count() != 2 || r.header.Get("X-Envoy-Attempt-Count") != "2" ||
		r.header.Get("X-Resp-Attempts") != "2" || r.header.Get("X-Resp-Flags") != "0" || r.header.Get("X-Resp-Details") != "via_upstream" {
		t.Fatalf("got %d %q after %d attempts: attempt-count %q, attempts %q, flags %q, details %q", r.status, r.body, up.count(),
			r.header.Get("X-Envoy-Attempt-Count"), r.header.Get("X-Resp-Attempts"), r.header.Get("X-Resp-Flags"), r.header.Get("X-Resp-Details"))
	}
	// Both attempts: the per-try timeout is below the route's 15s.
	for i, q := range up.all() {
		if v := q.header.Get("X-Envoy-Expected-Rq-Timeout-Ms"); v != "1000" {
			t.Errorf("attempt %d: x-envoy-expected-rq-timeout-ms %q, want 1000", i+1, v)
		}
	}
	// 1000ms (attempt 1) + 10ms (back-off advance); attempt 2 answered
	// with the clock standing still.
	if v := r.header.Get("X-Envoy-Upstream-Service-Time"); v != "1010" {
		t.Errorf("x-envoy-upstream-service-time %q, want 1010", v)
	}
	if st := f.h.Stats(); st.UpstreamAttempts != 2 || st.Retries != 1 {
		t.Errorf("stats: %d attempts, %d retries; want 2, 1", st.UpstreamAttempts, st.Retries)
	}
	assertPending(t, clk, 0, "after the response")

	// Without a retry policy the per-try timeout ends the request: 504 UT.
	clk2 := NewManualClock(routerClockStart)
	arrived2 := make(chan int, 1)
	f2, up2 := routerFixture(t, func(n int, w http.ResponseWriter, r *http.Request) {
		arrived2 <- n
		<-r.Context().Done()
	}, Options{Clock: clk2, RouterOnClock: true})
	done = f2.goDo("GET", "/", "x-op", "router", "x-set-upstream-rq-per-try-timeout-ms", "1000")
	<-arrived2
	assertPending(t, clk2, 2, "attempt in flight")
	clk2.Advance(999 * time.Millisecond)
	assertPending(t, clk2, 2, "999ms into the attempt")
	clk2.Advance(time.Millisecond)
	r = <-done
	if r.status != 504 || r.body != "upstream request timeout" || r.header.Get("X-Resp-Flags") != strconv.FormatUint(FlagUpstreamRequestTimeout, 10) ||
		r.header.Get("X-Resp-Details") != "upstream_per_try_timeout" || r.header.Get("X-Resp-Attempts") != "1" || up2.count() != 1 {
		t.Errorf("per-try timeout: %d %q flags %s details %s attempts %s upstream %d", r.status, r.body, r.header.Get("X-Resp-Flags"),
			r.header.Get("X-Resp-Details"), r.header.Get("X-Resp-Attempts"), up2.count())
	}
	if v := up2.last().header.Get("X-Envoy-Expected-Rq-Timeout-Ms"); v != "1000" {
		t.Errorf("x-envoy-expected-rq-timeout-ms %q, want 1000", v)
	}
	assertPending(t, clk2, 0, "after the 504")
}

func TestGlobalTimeout(t *testing.T) {
	clk := NewManualClock(routerClockStart)
	arrived := make(chan int, 4)
	slow := func(n int, w http.ResponseWriter, r *http.Request) {
		arrived <- n
		<-r.Context().Done() // never answers: the global timeout must end it
	}
	f, up := routerFixture(t, slow, Options{Clock: clk, RouterOnClock: true})
	done := f.goDo("GET", "/", "x-op", "router", "x-set-upstream-rq-timeout-ms", "1000", "x-set-retry-on", "5xx", "x-set-max-retries", "5")
	<-arrived
	assertPending(t, clk, 1, "attempt in flight") // the route timeout only
	clk.Advance(999 * time.Millisecond)
	assertPending(t, clk, 1, "999ms into the attempt")
	clk.Advance(time.Millisecond)
	r := <-done
	if r.status != 504 || r.body != "upstream request timeout" || r.header.Get("X-Resp-Flags") != strconv.FormatUint(FlagUpstreamRequestTimeout, 10) ||
		r.header.Get("X-Resp-Details") != "upstream_response_timeout" || r.header.Get("X-Resp-Attempts") != "1" {
		t.Fatalf("got %d %q flags %s details %s attempts %s", r.status, r.body, r.header.Get("X-Resp-Flags"),
			r.header.Get("X-Resp-Details"), r.header.Get("X-Resp-Attempts"))
	}
	if up.count() != 1 {
		t.Errorf("a global timeout is not retried: %d attempts", up.count())
	}
	if st := f.h.Stats(); st.UpstreamAttempts != 1 || st.Retries != 0 {
		t.Errorf("stats: %d attempts, %d retries; want 1, 0", st.UpstreamAttempts, st.Retries)
	}
	if v := up.last().header.Get("X-Envoy-Expected-Rq-Timeout-Ms"); v != "1000" {
		t.Errorf("x-envoy-expected-rq-timeout-ms %q, want 1000 (the clock had not moved)", v)
	}
	e, _ := f.h.findLog("guest: log ctx=")
	if !strings.Contains(e.Message, "code=504") || !strings.Contains(e.Message, "flags=4 ") {
		t.Errorf("on_log: %q", e.Message)
	}
	assertPending(t, clk, 0, "after the 504")
	// The alternative response.
	done = f.goDo("GET", "/", "x-op", "router", "x-set-upstream-rq-timeout-ms", "30", "x-set-upstream-rq-timeout-alt-response", "1")
	<-arrived
	if v := up.last().header.Get("X-Envoy-Expected-Rq-Timeout-Ms"); v != "30" {
		t.Errorf("alt: x-envoy-expected-rq-timeout-ms %q, want 30", v)
	}
	clk.Advance(30 * time.Millisecond)
	if r = <-done; r.status != 204 || r.header.Get("X-Resp-Details") != "upstream_response_timeout" {
		t.Errorf("alt response: %d details %s", r.status, r.header.Get("X-Resp-Details"))
	}
}

// A route timeout that ends during a retry's back-off: the back-off is cut
// short at the deadline and the request gets 504 UT after one attempt.
func TestGlobalTimeoutDuringBackoff(t *testing.T) {
	clk := NewManualClock(routerClockStart)
	arrived := make(chan int, 4)
	f, up := routerFixture(t, func(n int, w http.ResponseWriter, r *http.Request) {
		arrived <- n
		w.WriteHeader(503)
	}, Options{Clock: clk, RouterOnClock: true, RetryBaseInterval: time.Hour, RetryMaxInterval: time.Hour, RetrySeed: 1})
	done := f.goDo("GET", "/", "x-op", "router", "x-set-upstream-rq-timeout-ms", "1000", "x-set-retry-on", "5xx")
	<-arrived
	// The 503 comes back; the retry waits on the clock (route timeout +
	// back-off, whichever of the two fires first ends the wait).
	eventually(t, "the back-off timer", func() bool { return clk.Pending() == 2 })
	clk.Advance(1000 * time.Millisecond)
	r := <-done
	if r.status != 504 || r.header.Get("X-Resp-Flags") != strconv.FormatUint(FlagUpstreamRequestTimeout, 10) ||
		r.header.Get("X-Resp-Details") != "upstream_response_timeout" || r.header.Get("X-Resp-Attempts") != "1" || up.count() != 1 {
		t.Errorf("got %d flags %s details %s attempts %s upstream %d", r.status, r.header.Get("X-Resp-Flags"),
			r.header.Get("X-Resp-Details"), r.header.Get("X-Resp-Attempts"), up.count())
	}
	if st := f.h.Stats(); st.Retries != 1 {
		t.Errorf("retries %d, want 1 (the one cut short)", st.Retries)
	}
	assertPending(t, clk, 0, "after the 504")
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
	// Retries in back-off are capped per cluster (Envoy's max_retries breaker,
	// default 3). The back-offs wait on a manual clock that stands still until
	// all 6 requests have asked for their retry, so exactly 2 hold a slot and
	// 4 overflow, whatever the machine's speed.
	clk := NewManualClock(routerClockStart)
	f, up := routerFixture(t, failFirst(1000, 503), Options{Workers: 2, Clock: clk, RouterOnClock: true,
		RetryBaseInterval: 200 * time.Millisecond, RetryMaxInterval: 200 * time.Millisecond, MaxConcurrentRetries: 2, RetrySeed: 1})
	var dones []<-chan result
	for i := 0; i < 6; i++ {
		dones = append(dones, f.goDo("GET", "/", "x-op", "router", "x-set-retry-on", "5xx", "x-set-max-retries", "1"))
	}
	eventually(t, "6 retry decisions", func() bool { st := f.h.Stats(); return st.Retries+st.RetryOverflow == 6 })
	if st := f.h.Stats(); st.Retries != 2 || st.RetryOverflow != 4 {
		t.Fatalf("retries %d, overflow %d; want 2 and 4 (6 requests wanting one retry each, at most 2 at a time)", st.Retries, st.RetryOverflow)
	}
	// The 4 overflowed were answered with their first 503 (flagged UO); the
	// 2 others are still in back-off.
	clk.Advance(200 * time.Millisecond) // every back-off ends
	overflow := 0
	for _, d := range dones {
		r := <-d
		if r.status != 503 {
			t.Errorf("status %d, want 503", r.status)
		}
		switch r.header.Get("X-Resp-Flags") {
		case strconv.FormatUint(FlagUpstreamOverflow, 10):
			overflow++
			if r.header.Get("X-Resp-Attempts") != "1" {
				t.Errorf("overflowed request: %s attempts", r.header.Get("X-Resp-Attempts"))
			}
		case strconv.FormatUint(FlagUpstreamRetryLimitExceeded, 10):
			if r.header.Get("X-Resp-Attempts") != "2" {
				t.Errorf("retried request: %s attempts", r.header.Get("X-Resp-Attempts"))
			}
		default:
			t.Errorf("flags %s", r.header.Get("X-Resp-Flags"))
		}
	}
	if overflow != 4 || up.count() != 8 {
		t.Errorf("%d overflowed, %d upstream attempts; want 4 and 6+2", overflow, up.count())
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
