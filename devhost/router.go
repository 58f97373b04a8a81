package devhost

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Router headers the plugin may set (Envoy's router reads them from the
// request headers after the filter chain, then removes them before the
// request goes upstream).
const (
	hdrTimeout         = "x-envoy-upstream-rq-timeout-ms"
	hdrPerTryTimeout   = "x-envoy-upstream-rq-per-try-timeout-ms"
	hdrMaxRetries      = "x-envoy-max-retries"
	hdrRetryOn         = "x-envoy-retry-on"
	hdrRetriableCodes  = "x-envoy-retriable-status-codes"
	hdrRetryGrpcOn     = "x-envoy-retry-grpc-on"
	hdrTimeoutAlt      = "x-envoy-upstream-rq-timeout-alt-response"
	hdrHedge           = "x-envoy-hedge-on-per-try-timeout"
	hdrAttemptCount    = "x-envoy-attempt-count"
	hdrExpectedTimeout = "x-envoy-expected-rq-timeout-ms"
	hdrServiceTime     = "x-envoy-upstream-service-time"
)

// retry_on policy bits.
const (
	retry5xx = 1 << iota
	retryGatewayError
	retryReset
	retryConnectFailure
	retryRetriable4xx
	retryRetriableStatusCodes
	retryResetBeforeRequest
)

type retryPolicy struct {
	on         int
	maxRetries int
	codes      map[int]bool
}

func parseRetryOn(v string) int {
	on := 0
	for _, t := range strings.Split(v, ",") {
		switch strings.TrimSpace(t) {
		case "5xx":
			on |= retry5xx
		case "gateway-error":
			on |= retryGatewayError
		case "reset":
			on |= retryReset
		case "connect-failure":
			on |= retryConnectFailure
		case "retriable-4xx":
			on |= retryRetriable4xx
		case "retriable-status-codes":
			on |= retryRetriableStatusCodes
		case "reset-before-request":
			on |= retryResetBeforeRequest
		}
	}
	return on
}

// retriableStatus is RetryStateImpl::wouldRetryFromHeaders.
func (p retryPolicy) retriableStatus(code int) bool {
	switch {
	case p.on&retry5xx != 0 && code >= 500:
		return true
	case p.on&retryGatewayError != 0 && (code == 502 || code == 503 || code == 504):
		return true
	case p.on&retryRetriable4xx != 0 && code == 409:
		return true
	case p.on&retryRetriableStatusCodes != 0 && p.codes[code]:
		return true
	}
	return false
}

// failure kinds of one attempt.
type failKind int

const (
	failNone failKind = iota
	failConnect
	failRemoteReset
	failTermination
	failPerTryTimeout
	failGlobalTimeout
	failClientGone
	failTooLarge
)

// retriableReset is RetryStateImpl::wouldRetryFromReset: connection failures
// with connect-failure; any reset (a per-try timeout is a local reset) with
// 5xx, gateway-error or reset.
func (p retryPolicy) retriableReset(k failKind) bool {
	if k == failConnect && p.on&(retryConnectFailure|retryResetBeforeRequest) != 0 {
		return true
	}
	return p.on&(retry5xx|retryGatewayError|retryReset) != 0
}

func headerMs(m *headerMap, k string) (time.Duration, bool) {
	v, ok := m.get(k)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Millisecond, true
}

// attemptResult is the outcome of one upstream attempt.
type attemptResult struct {
	resp *http.Response
	body []byte
	kind failKind
	err  error
	addr string
}

// route is Envoy's router filter for the dev host's single route: it
// forwards to Options.UpstreamCluster and honours, from the request headers
// as the plugin left them:
//
//   - x-envoy-upstream-rq-timeout-ms: the global timeout over all attempts
//     and back-offs (0 disables; absent: Options.RouteTimeout). On expiry:
//     504 "upstream request timeout", flag UT, details
//     upstream_response_timeout (204 instead with
//     x-envoy-upstream-rq-timeout-alt-response).
//   - x-envoy-upstream-rq-per-try-timeout-ms: per attempt; ignored when not
//     below the global timeout. Exhausted: 504, UT, upstream_per_try_timeout.
//   - x-envoy-retry-on (5xx, gateway-error, reset, connect-failure,
//     retriable-4xx, retriable-status-codes with
//     x-envoy-retriable-status-codes, reset-before-request),
//     x-envoy-max-retries (default 1 when a retry_on is set).
//   - jittered exponential back-off between attempts: the n-th retry waits a
//     uniform random duration in [0, min((2^n - 1) * base, max)).
//   - at most Options.MaxConcurrentRetries retries in back-off per cluster
//     (Envoy's max_retries circuit breaker); beyond, no retry and flag UO.
//   - x-envoy-attempt-count on each upstream request and on the response;
//     x-envoy-expected-rq-timeout-ms on the upstream request.
//
// Failures without a response become router local replies: connect failure
// 503 (UF), reset 503 (UR / UC), with URX added when the retry policy
// wanted another attempt but max retries were spent. It returns nil when the
// client went away.
func (s *stream) route() *response {
	h := s.h
	// The router owns the request now (vis is 0: no plugin access).
	m := s.reqHeaders
	global := h.opts.RouteTimeout
	if global < 0 {
		global = 0
	}
	if d, ok := headerMs(m, hdrTimeout); ok {
		global = d
	}
	perTry, _ := headerMs(m, hdrPerTryTimeout)
	if global > 0 && perTry >= global {
		perTry = 0
	}
	_, altTimeout := m.get(hdrTimeoutAlt)
	var pol retryPolicy
	if v, ok := m.get(hdrRetryOn); ok {
		pol.on = parseRetryOn(v)
	}
	if pol.on != 0 {
		pol.maxRetries = 1
	}
	if v, ok := m.get(hdrMaxRetries); ok {
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
			pol.maxRetries = int(n)
		}
	}
	if v, ok := m.get(hdrRetriableCodes); ok {
		pol.codes = map[int]bool{}
		for _, c := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(c)); err == nil {
				pol.codes[n] = true
			}
		}
	}
	for _, k := range []string{hdrTimeout, hdrPerTryTimeout, hdrMaxRetries, hdrRetryOn, hdrRetriableCodes,
		hdrRetryGrpcOn, hdrTimeoutAlt, hdrHedge, hdrExpectedTimeout} {
		m.remove(k)
	}

	cluster := h.opts.UpstreamCluster
	base := h.clusters[cluster]
	if base == nil {
		s.setInfo(func() { s.flags |= FlagNoClusterFound; s.setDetails(DetailsClusterNotFound) })
		return routerReply(http.StatusServiceUnavailable, "")
	}
	s.setInfo(func() { s.routed = true })

	clk := h.routerClock()
	start := clk.Now()
	ctx := s.ctx
	var deadline time.Time
	if global > 0 {
		deadline = start.Add(global)
		var stop func()
		ctx, stop = timeoutContext(ctx, clk, global)
		defer stop()
	}
	timeoutReply := func(details string) *response {
		s.setInfo(func() { s.flags |= FlagUpstreamRequestTimeout; s.setDetails(details) })
		if altTimeout {
			return routerReply(http.StatusNoContent, "")
		}
		return routerReply(http.StatusGatewayTimeout, "upstream request timeout")
	}

	for attempt := 1; ; attempt++ {
		s.setInfo(func() { s.attempts = attempt })
		h.counters.attempts.Add(1)
		expected := time.Duration(0)
		if global > 0 {
			expected = deadline.Sub(clk.Now())
		}
		if perTry > 0 && (expected == 0 || perTry < expected) {
			expected = perTry
		}
		res := h.attempt(ctx, clk, s, base, attempt, perTry, expected)
		if res.addr != "" {
			s.setInfo(func() { s.upstreamAddr = res.addr })
		}
		if s.ctx.Err() != nil {
			return nil
		}
		var retriable bool
		if res.kind == failNone {
			retriable = pol.retriableStatus(res.resp.StatusCode)
		} else if res.kind != failGlobalTimeout && res.kind != failTooLarge {
			retriable = pol.retriableReset(res.kind)
		}
		if retriable && attempt > pol.maxRetries {
			s.setInfo(func() { s.flags |= FlagUpstreamRetryLimitExceeded })
			retriable = false
		}
		if retriable && !h.acquireRetry(cluster) {
			h.counters.retryOverflow.Add(1)
			s.setInfo(func() { s.flags |= FlagUpstreamOverflow })
			retriable = false
		}
		if !retriable {
			return s.finalResponse(res, attempt, clk.Now().Sub(start), timeoutReply)
		}
		h.counters.retries.Add(1)
		wait := h.backoff(attempt)
		if !deadline.IsZero() {
			if left := deadline.Sub(clk.Now()); wait > left {
				wait = left
			}
		}
		if wait > 0 {
			elapsed := make(chan struct{})
			t := clk.AfterFunc(wait, func() { close(elapsed) })
			select {
			case <-elapsed:
			case <-ctx.Done():
			}
			t.Stop()
		}
		h.releaseRetry(cluster)
		if s.ctx.Err() != nil {
			return nil
		}
		if ctx.Err() != nil {
			return timeoutReply(DetailsUpstreamTimeout)
		}
	}
}

// finalResponse turns the last attempt into the response for the client.
func (s *stream) finalResponse(res attemptResult, attempt int, elapsed time.Duration, timeoutReply func(string) *response) *response {
	switch res.kind {
	case failNone:
		m := &headerMap{kv: make([]pair, 0, len(res.resp.Header)+4)}
		m.add(":status", strconv.Itoa(res.resp.StatusCode))
		for _, k := range sortedKeys(res.resp.Header) {
			lk := strings.ToLower(k)
			if hopByHop[lk] {
				continue
			}
			for _, v := range res.resp.Header[k] {
				m.add(lk, v)
			}
		}
		m.replace(hdrServiceTime, strconv.FormatInt(elapsed.Milliseconds(), 10))
		m.replace(hdrAttemptCount, strconv.Itoa(attempt))
		s.setInfo(func() { s.setDetails(DetailsViaUpstream) })
		return &response{headers: m, body: res.body}
	case failGlobalTimeout:
		return timeoutReply(DetailsUpstreamTimeout)
	case failPerTryTimeout:
		return timeoutReply(DetailsPerTryTimeout)
	case failTooLarge:
		s.setInfo(func() { s.setDetails(DetailsResponseTooLarge) })
		return routerReply(http.StatusInternalServerError, "")
	}
	flag, reason := FlagUpstreamConnectionTermination, "connection termination"
	switch res.kind {
	case failConnect:
		flag, reason = FlagUpstreamConnectionFailure, "connection failure"
	case failRemoteReset:
		flag, reason = FlagUpstreamRemoteReset, "remote reset"
	}
	s.setInfo(func() {
		s.flags |= flag
		s.setDetails(detailsResetBeforeStarted + "{" + strings.ReplaceAll(reason, " ", "_") + "}")
	})
	r := routerReply(http.StatusServiceUnavailable,
		"upstream connect error or disconnect/reset before headers. reset reason: "+reason)
	r.headers.replace(hdrAttemptCount, strconv.Itoa(attempt))
	return r
}

// routerReply is a local reply generated by the router (it goes through
// the plugin's response callbacks like any response).
func routerReply(code int, body string) *response {
	m := &headerMap{}
	m.add(":status", strconv.Itoa(code))
	if body != "" {
		m.add("content-type", "text/plain")
	}
	m.add("content-length", strconv.Itoa(len(body)))
	return &response{headers: m, body: []byte(body)}
}

// attempt sends one upstream request.
func (h *Host) attempt(ctx context.Context, clk Clock, s *stream, base *url.URL, attempt int, perTry, expected time.Duration) attemptResult {
	actx := ctx
	if perTry > 0 {
		var stop func()
		actx, stop = timeoutContext(ctx, clk, perTry)
		defer stop()
	}
	m := s.reqHeaders
	method, _ := m.get(":method")
	path, _ := m.get(":path")
	authority, _ := m.get(":authority")
	u := *base
	u.Path, u.RawPath, u.RawQuery = "", "", ""
	target := strings.TrimSuffix(u.String(), "/") + path
	var addr string
	req, err := http.NewRequestWithContext(withConnAddr(actx, &addr), method, target, bytes.NewReader(s.reqBody))
	if err != nil {
		return attemptResult{kind: failTermination, err: err}
	}
	req.Host = authority
	req.ContentLength = int64(len(s.reqBody))
	for _, p := range m.kv {
		if strings.HasPrefix(p.k, ":") || p.k == "content-length" || hopByHop[p.k] {
			continue
		}
		req.Header[p.k] = append(req.Header[p.k], p.v)
	}
	req.Header[hdrAttemptCount] = []string{strconv.Itoa(attempt)}
	if expected > 0 {
		req.Header[hdrExpectedTimeout] = []string{strconv.FormatInt(expected.Milliseconds(), 10)}
	}
	resp, err := h.transport.RoundTrip(req)
	if err != nil {
		return attemptResult{kind: classify(err, ctx, actx), err: err, addr: addr}
	}
	defer resp.Body.Close()
	body, err := readBody(resp.Body, h.opts.MaxBodyBytes)
	if err != nil {
		if err == errBodyTooLarge {
			return attemptResult{kind: failTooLarge, err: err, addr: addr}
		}
		return attemptResult{kind: classify(err, ctx, actx), err: err, addr: addr}
	}
	return attemptResult{resp: resp, body: body, addr: addr}
}

// routerClock is the clock of the router's timers: Options.Clock when
// Options.RouterOnClock is set, else the wall clock.
func (h *Host) routerClock() Clock {
	if h.opts.RouterOnClock {
		return h.opts.Clock
	}
	return RealClock{}
}

// timeoutContext is a child of parent cancelled, with cause
// context.DeadlineExceeded, once d has elapsed on clk. stop releases the
// timer and the context.
func timeoutContext(parent context.Context, clk Clock, d time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	t := clk.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// classify maps a transport error to Envoy's reset reasons.
func classify(err error, global, try context.Context) failKind {
	switch {
	case global.Err() != nil && errors.Is(context.Cause(global), context.DeadlineExceeded):
		return failGlobalTimeout
	case global.Err() != nil:
		return failClientGone
	case try.Err() != nil:
		return failPerTryTimeout
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return failConnect
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return failConnect
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return failRemoteReset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return failTermination
	}
	return failTermination
}

// backoff is Envoy's JitteredExponentialBackOffStrategy for the n-th retry
// (n >= 1): uniform in [0, BackoffCeiling(n, base, max)).
func (h *Host) backoff(n int) time.Duration {
	ceil := BackoffCeiling(n, h.opts.RetryBaseInterval, h.opts.RetryMaxInterval)
	if ceil <= 0 {
		return 0
	}
	h.retryMu.Lock()
	d := time.Duration(h.retryRand.Int64N(int64(ceil)))
	h.retryMu.Unlock()
	return d
}

// BackoffCeiling is the upper bound of the n-th retry's back-off (n >= 1)
// with the given base and max intervals: min((2^n - 1) * base, max).
func BackoffCeiling(n int, base, max time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	if n < 1 {
		n = 1
	}
	if n > 30 {
		n = 30
	}
	mult := time.Duration(1)<<uint(n) - 1
	if mult > max/base {
		return max
	}
	if c := mult * base; c < max {
		return c
	}
	return max
}

func (h *Host) acquireRetry(cluster string) bool {
	h.retryMu.Lock()
	defer h.retryMu.Unlock()
	if h.opts.MaxConcurrentRetries > 0 && h.retryActive[cluster] >= h.opts.MaxConcurrentRetries {
		return false
	}
	h.retryActive[cluster]++
	return true
}

func (h *Host) releaseRetry(cluster string) {
	h.retryMu.Lock()
	h.retryActive[cluster]--
	h.retryMu.Unlock()
}
