package filter

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/streq"
	"github.com/breakwater/breakwater/patterns/retry"
	"github.com/breakwater/breakwater/patterns/timeout"
)

// deadlineStage is the early check of timeout.deadline: the caller's
// remaining budget (x-envoy-expected-rq-timeout-ms, else grpc-timeout) is
// read when the request arrives; below min_remaining the request is
// rejected at once with 504 deadline_exceeded, without calling upstream.
type deadlineStage struct {
	_   [0]func() // not comparable: no generated equality in the .wasm
	cfg *config.Deadline
	// mask has the bits of the entries of x-envoy-expected-rq-timeout-ms
	// and grpc-timeout in the VM's header table, top the larger entry
	// (hdrSlots: one has none): a request loaded with the table past top,
	// whose has misses mask, carries neither header.
	mask uint32
	top  uint8
	// invalid counts caller budget headers that cannot be used (not the
	// header's syntax): they are ignored.
	invalid counter
}

func newDeadlineStage(p *pluginContext, cfg *config.Deadline, invalid counter) *deadlineStage {
	s := &deadlineStage{cfg: cfg, invalid: invalid, top: hdrSlots} // top: no request is past it
	exp, grpc := p.hdrTab.add(setNames[setExpectedTimeout]), p.hdrTab.add("grpc-timeout")
	if exp >= 0 && grpc >= 0 {
		s.mask, s.top = 1<<exp|1<<grpc, uint8(max(exp, grpc))
	}
	return s
}

// callerBudget reads the caller's remaining budget from the request: the
// first usable one of x-envoy-expected-rq-timeout-ms and grpc-timeout. bad
// counts the headers present but unusable (ignored).
func callerBudget(r *requestInfo) (d time.Duration, ok bool, bad int) {
	if v, ok := r.header("x-envoy-expected-rq-timeout-ms"); ok {
		if d, ok := timeout.ExpectedMs(v); ok {
			return d, true, bad
		}
		bad++
	}
	if v, ok := r.header("grpc-timeout"); ok {
		if d, ok := timeout.GRPCTimeout(v); ok {
			return d, true, bad
		}
		bad++
	}
	return 0, false, bad
}

// none says whether the request's slots say it has no budget header
// (httpContext.run asks before calling onRequest). tabN is 0 for a request
// not loaded with a table (tests); else the table is the VM's, where
// newDeadlineStage found the entries.
func (s *deadlineStage) none(r *requestInfo) bool {
	return r.has&s.mask == 0 && s.top < r.tabN
}

// onRequest reads the caller's budget and rejects the request when too
// little is left.
func (s *deadlineStage) onRequest(h *httpContext, now time.Time) verdict {
	d, ok, bad := callerBudget(&h.req)
	if bad > 0 {
		s.invalid.inc(uint64(bad))
	}
	if !ok {
		return pass
	}
	h.budget, h.hasBudget = d, true
	if d < s.cfg.MinRemaining || d <= 0 {
		return h.reject(now, config.ReasonDeadlineExceeded, nil)
	}
	return pass
}

// directiveStage is the last stage: it writes the router directives on the
// request as it goes upstream.
//
//   - timeout: x-envoy-upstream-rq-timeout-ms = min(configured or adaptive
//     timeout, caller budget left), the budget measured from the request's
//     arrival; without a configured timeout the caller's budget is bounded
//     by deadline.max (a caller only ever shortens); with deadline.propagate the same value is passed on in
//     x-envoy-expected-rq-timeout-ms. timeout.effective_ms records it.
//   - retry: x-envoy-max-retries (0 for methods not listed, while the
//     policy's breaker is not closed, or over the retry budget),
//     x-envoy-retry-on, x-envoy-retriable-status-codes and
//     x-envoy-upstream-rq-per-try-timeout-ms.
type directiveStage struct {
	p   *pluginContext
	pol *policy

	tcfg      *config.Timeout
	adaptive  *timeout.Adaptive
	latKey    string // shared-data key of the latency estimator
	effective histogram

	rcfg   *config.Retry
	budget *retry.Budget
	// lease is this worker's share of the budget (retry.Lease): requests
	// are counted and most retries granted without a store round trip; the
	// tick writes the counts and unused grants back and takes a new lease.
	lease     *retry.Lease
	exhausted counter
	// retryHdrs are the directives of a request granted retries besides
	// x-envoy-max-retries (retry-on, retriable status codes, per-try
	// timeout), formatted once.
	retryHdrs [][2]string
	// timeoutNames are the headers that carry the timeout (the upstream
	// timeout, and the expected timeout with deadline.propagate).
	timeoutNames []int
	// fixedD is the configured timeout (0: none), fixedMs in ms.
	fixedD  time.Duration
	fixedMs uint64
	// sets are the request headers of the last timeouts and retry grants
	// written (setFor), next the one a new combination replaces: most
	// requests of a policy get one of a few.
	sets [dirSets]dirSet
	next uint8
	last *dirSet // the set of the last request
}

// dirSets is the number of directiveStage.sets (a power of two).
const dirSets = 4

// dirSet is the reqSet of one timeout (d, 0: none; -1: an unused entry)
// and retry grant (granted, -1: no retry directives); num holds the
// timeout's digits.
type dirSet struct {
	_       [0]func() // not comparable: no generated equality
	d       time.Duration
	granted int
	num     [20]byte
	set     reqSet
}

func newDirectiveStage(p *pluginContext, ns string, pol *policy, pc *config.Policy) (*directiveStage, error) {
	s := &directiveStage{p: p, pol: pol, tcfg: pc.Timeout, rcfg: pc.Retry}
	for i := range s.sets {
		s.sets[i].d = -1
		s.sets[i].set.pairs = make([][2]string, nSet)
	}
	s.last = &s.sets[0]
	if t := pc.Timeout; t != nil {
		s.fixedD = max(t.Request, 0)
		s.fixedMs = uint64(s.fixedD / time.Millisecond)
		s.timeoutNames = []int{setUpstreamTimeout}
		if t.Deadline != nil && t.Deadline.Propagate {
			s.timeoutNames = append(s.timeoutNames, setExpectedTimeout)
		}
		s.effective = p.m.histogram(metricdef.Name(ns, metricdef.TimeoutEffective, pol.name))
		if a := t.Adaptive; a != nil {
			s.adaptive, s.latKey = a, pol.prefix+"/lat"
		}
	}
	if r := pc.Retry; r != nil {
		s.exhausted = p.m.counter(metricdef.Name(ns, metricdef.RetryBudgetExhaustedTotal, pol.name))
		s.retryHdrs = append(s.retryHdrs, [2]string{setNames[setRetryOn], strings.Join(r.RetryOn, ",")})
		if len(r.RetriableStatusCodes) > 0 {
			codes := make([]string, len(r.RetriableStatusCodes))
			for i, c := range r.RetriableStatusCodes {
				codes[i] = strconv.Itoa(c)
			}
			s.retryHdrs = append(s.retryHdrs, [2]string{setNames[setRetriableCodes], strings.Join(codes, ",")})
		}
		if r.PerTryTimeout > 0 {
			s.retryHdrs = append(s.retryHdrs, [2]string{setNames[setPerTryTimeout], ms(r.PerTryTimeout)})
		}
		if b := r.Budget; b != nil {
			s.budget = retry.NewBudget(pol.prefix+"/retry", *b)
			if err := s.budget.Err(); err != nil {
				return nil, fmt.Errorf("retry.budget: %w", err)
			}
			s.lease = retry.NewLease(s.budget)
			pol.ticks = append(pol.ticks, func(now time.Time) {
				_ = s.lease.Tick(s.p.st, now)
			})
		}
	}
	return s, nil
}

// retryCounts are the values of x-envoy-max-retries a request can get
// (config.Retry.MaxRetries is 0..10), formatted once.
var retryCounts = [...]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}

// retryCount is strconv.Itoa(n) without the call for 0..10.
func retryCount(n int) string {
	if uint(n) < uint(len(retryCounts)) {
		return retryCounts[n]
	}
	return strconv.Itoa(n)
}

// ms renders a duration as whole milliseconds, rounded up, without
// overflowing near MaxDuration.
func ms(d time.Duration) string { return strconv.FormatInt(ceilMs(d), 10) }

// ceilMs is d in whole milliseconds, rounded up (ms, msInto).
func ceilMs(d time.Duration) int64 {
	n := int64(d / time.Millisecond)
	if d%time.Millisecond > 0 {
		n++
	}
	return n
}

func (s *directiveStage) onRequest(h *httpContext, now time.Time) verdict {
	// Without an estimate or a budget (hasBudget: there is a deadline, so
	// a timeout block) the timeout is the configured one, in ms already.
	d := s.fixedD
	if s.adaptive != nil || h.hasBudget {
		var ok bool
		if d, ok = s.setTimeout(h, s.tcfg, now); !ok {
			return h.reject(now, config.ReasonDeadlineExceeded, nil)
		}
		if d > 0 {
			s.effective.record(uint64(d / time.Millisecond))
		} else {
			d = 0
		}
	} else if d > 0 && s.effective.ok {
		recordMetric(s.effective.id, s.fixedMs)
	}
	granted := -1
	if r := s.rcfg; r != nil {
		granted = s.setRetries(h, r, now)
	}
	e := s.last
	if e.d != d || e.granted != granted {
		e = s.setFor(d, granted)
		s.last = e
	}
	h.setReq = &e.set
	return pass
}

// setFor is the request headers to set for a timeout d (0: none) and a
// retry grant (-1: no retry directives): x-breakwater-policy, then the
// timeout in ms in each of timeoutNames, then x-envoy-max-retries and, for
// a grant, the other retry directives (retryHdrs). The directive stage is
// the last stage and runs once per request (it never waits), no other stage
// sets these names, and flushRequestHeaders writes the set before any other
// request runs: a set of sets can be rebuilt for the next combination.
func (s *directiveStage) setFor(d time.Duration, granted int) *dirSet {
	for i := range s.sets {
		if e := &s.sets[i]; e.d == d && e.granted == granted {
			return e
		}
	}
	e := &s.sets[s.next&(dirSets-1)]
	s.next++
	e.d, e.granted = d, granted
	p := e.set.pairs[:nSet] // made so by newDirectiveStage
	p[0] = [2]string{setNames[setPolicy], s.pol.name}
	n := 1
	if d > 0 {
		v := msInto(&e.num, d)
		for _, name := range s.timeoutNames {
			p[n] = [2]string{setNames[name], v}
			n++
		}
	}
	if granted >= 0 {
		p[n] = [2]string{setNames[setMaxRetries], retryCount(granted)}
		n++
		if granted > 0 {
			n += copy(p[n:], s.retryHdrs)
		}
	}
	e.set.pairs = p[:n]
	e.set.encode()
	return e
}

// msInto is ms(d), its digits written in dst (formatNum).
func msInto(dst *[20]byte, d time.Duration) string { return formatNum(dst, ceilMs(d)) }

// setTimeout computes the timeout directive (<= 0: none) from the adaptive
// estimate and the caller's budget; false means the budget ran out while
// the request waited (queue, shaping) and it must be rejected.
func (s *directiveStage) setTimeout(h *httpContext, t *config.Timeout, now time.Time) (time.Duration, bool) {
	d := t.Request
	if s.adaptive != nil {
		if ad, _, err := s.adaptive.Timeout(s.p.st, s.latKey, t.Request, now); err == nil {
			d = ad
		}
	}
	if h.hasBudget && t.Deadline != nil {
		left := timeout.Remaining(h.budget, h.arrived, now)
		d = timeout.Upstream(d, t.Deadline.Max, left, true)
		if left < t.Deadline.MinRemaining || left <= 0 {
			return 0, false
		}
	}
	return d, true
}

// setRetries decides the retries of the request: the count granted.
func (s *directiveStage) setRetries(h *httpContext, r *config.Retry, now time.Time) int {
	want := 0
	for _, m := range r.Methods {
		if streq.Equal(m, h.req.method) {
			want = r.MaxRetries
			break
		}
	}
	granted := want
	if want > 0 && h.cb != nil && (h.cb.tok.Probe || h.cb.tok.WouldReject) {
		// The breaker is not closed: a probe or an observed would-be rejection gets no retries.
		granted = 0
		s.exhausted.inc(1)
	} else if s.budget != nil {
		g := want // from the worker's pool (retry.Lease.Take), else a round trip
		if !s.lease.Take(now, want) {
			var err error
			if g, err = s.lease.Request(s.p.st, now, want); err != nil {
				logLimited("breakwater: %s: retry budget unavailable, no retries granted: %v", s.pol.name, err)
				g = 0
			}
		}
		if g < want {
			s.exhausted.inc(1)
		}
		granted = g
		if g > 0 {
			h.retryGranted = g // reserved at now, which run records as h.released
		}
	}
	return granted
}

// attempts reads how many upstream attempts the router made: the
// x-envoy-attempt-count response header (Envoy adds it when the route sets
// include_attempt_count_in_response, as envoy/envoy.yaml does), else the
// upstream.request_attempt_count property; 1 when neither is there.
func attempts(h *httpContext) int {
	if v, ok := h.responseAttempts(); ok {
		if n, ok := attemptCount(v); ok {
			return n
		}
	}
	if v, err := proxywasm.GetProperty([]string{"upstream", "request_attempt_count"}); err == nil && len(v) == 8 {
		if n := int(binary.LittleEndian.Uint64(v)); n >= 1 {
			return n
		}
	}
	return 1
}

// attemptCount parses an x-envoy-attempt-count value: 1 to 9 ASCII digits,
// at least 1 (what strconv.Atoi accepted here before, without its sign and
// overflow cases, which Envoy never writes).
func attemptCount(v string) (int, bool) {
	if len(v) == 0 || len(v) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1
}

// onOutcome gives back the retries granted but not performed, and feeds the
// adaptive timeout with the latency of successful calls.
func (s *directiveStage) onOutcome(h *httpContext, o *outcome, now time.Time) {
	if h.retryGranted > 0 {
		var n int
		if v, ok := h.responseAttempts(); ok && len(v) == 1 && v[0]-'1' < 9 {
			n = int(v[0] - '0') // one digit 1..9, as attemptCount reads it, without the call
		} else {
			n = attempts(h)
		}
		performed := n - 1
		if unused := h.retryGranted - performed; unused > 0 {
			s.lease.Unused(h.released, unused)
		} else if unused < 0 {
			if now.IsZero() { // not read for this outcome (policy.respTime, breakerStage.onOutcome)
				now = clock()
			}
			_ = s.lease.Charge(s.p.st, now, -unused)
		}
		h.retryGranted = 0
	}
	if s.adaptive != nil && !o.failure && o.status > 0 {
		_ = s.adaptive.Observe(s.p.st, s.latKey, upstreamTime(h, now), now)
	}
}
