package filter

import (
	"strconv"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/streq"
)

// policy is a configured policy with its stages, in the order of docs/configuration.md:
// fault → deadline → rate_limit → circuit_breaker → bulkhead → directives.
type policy struct {
	name   string
	prefix string // shared-data key prefix: <namespace>/<policy>
	cfg    *config.Policy
	m      policyMetrics
	stages []stage
	ticks  []func(now time.Time)

	// wantsOutcome: some pattern reads the upstream outcome; cbOutcome and
	// dirOutcome are the stages that receive it (breaker report; retry
	// budget and latency statistics), nil when none.
	wantsOutcome bool
	cbOutcome    *breakerStage
	dirOutcome   *directiveStage
	// respTime: on_http_response_headers reads the clock for the outcome
	// (a breaker counting slow calls, the adaptive timeout, a fallback or
	// stale cache use the instant; the breaker's success counted locally
	// and the retry budget's give-back do not: an outcome the breaker
	// reports to the store and the budget's rare charge read it themselves,
	// breakerStage.onOutcome, directiveStage.onOutcome).
	respTime bool
	// reqSet is x-breakwater-policy to set on the request, encoded (the
	// request headers of a policy without a directive stage).
	reqSet reqSet
	// respPre is x-breakwater-policy encoded for the response's header map
	// (prePolicy, encodeWire).
	respPre string
	// onlyPrefix: the match's only condition is path_prefix (match tests
	// it without MatchNormal when the path has no encoded separator).
	onlyPrefix bool
	// replaceFailures: fallback.on holds upstream_failure; failureOn
	// classifies (the breaker's failure_on, or its defaults).
	replaceFailures bool
	failureOn       *config.FailureOn
	failStatus      statusSet // failureOn.Statuses (statusSetOf)
	// stale is the stale-response cache of fallback.stale, or nil.
	stale *staleCache
	// fallbackServed counts local responses shaped by the fallback.
	fallbackServed counter
	// dl is the dead_letter block, or nil.
	dl *dlPolicy
	// usesTime: a stage or the dead letter reads the request's instant
	// (on_http_request_headers reads the clock only then).
	usesTime bool
}

// defaultFailureOn is failure_on's default, for a fallback without a breaker.
var defaultFailureOn = config.DefaultFailureOn()

func newPolicy(p *pluginContext, ns string, pc *config.Policy) (*policy, error) {
	pol := &policy{
		name:   pc.Name,
		prefix: ns + "/" + pc.Name,
		cfg:    pc,
		m:      p.m.forPolicy(ns, pc.Name),
	}
	if m := pc.Match; m != nil && m.EscapedSlashes == config.EscapedSlashesReject && (m.PathPrefix != "" || m.PathExact != "" || m.PathRegex != nil) {
		pol.m.escapedSlash = p.m.counter(metricdef.Name(ns, metricdef.RejectedTotal, pc.Name, metricdef.LabelReason, config.ReasonEscapedSlash))
	}
	if pc.Fault != nil {
		s, err := newFaultStage(p, ns, pol, pc.Fault)
		if err != nil {
			return nil, err
		}
		pol.stages = append(pol.stages, s)
	}
	if pc.Timeout != nil && pc.Timeout.Deadline != nil {
		pol.stages = append(pol.stages, newDeadlineStage(p, pc.Timeout.Deadline,
			p.m.counter(metricdef.Name(ns, metricdef.TimeoutDeadlineInvalidTotal, pc.Name))))
	}
	if pc.RateLimit != nil {
		s, err := newRateLimitStage(p, ns, pol, pc.RateLimit)
		if err != nil {
			return nil, err
		}
		pol.stages = append(pol.stages, s)
	}
	pol.failureOn = &defaultFailureOn
	if pc.CircuitBreaker != nil {
		s, err := newBreakerStage(p, ns, pol, pc.CircuitBreaker)
		if err != nil {
			return nil, err
		}
		pol.stages = append(pol.stages, s)
		pol.cbOutcome = s
		pol.failureOn = &pc.CircuitBreaker.FailureOn
	}
	if pc.Bulkhead != nil {
		s, err := newBulkheadStage(p, ns, pol, pc.Bulkhead)
		if err != nil {
			return nil, err
		}
		pol.stages = append(pol.stages, s)
	}
	if pc.Retry != nil || pc.Timeout != nil {
		s, err := newDirectiveStage(p, ns, pol, pc)
		if err != nil {
			return nil, err
		}
		pol.stages = append(pol.stages, s)
		if s.budget != nil || s.adaptive != nil {
			pol.dirOutcome = s
		}
	}
	if fb := pc.Fallback; fb != nil {
		pol.fallbackServed = p.m.counter(metricdef.Name(ns, metricdef.FallbackServedTotal, pc.Name))
		pol.replaceFailures = fb.Covers(config.ReasonUpstreamFailure)
		if fb.Stale != nil {
			pol.stale = newStaleCache(p, pol, fb.Stale)
		}
	}
	if pc.DeadLetter != nil {
		pol.dl = newDLPolicy(p, ns, pc.Name, pc.DeadLetter)
	}
	pol.reqSet.pairs = append(pol.reqSet.pairs, [2]string{setNames[setPolicy], pc.Name})
	pol.reqSet.encode()
	pol.respPre = prePolicy(pc.Name)
	pol.failStatus = statusSetOf(pol.failureOn.Statuses)
	pol.wantsOutcome = pol.cbOutcome != nil || pol.dirOutcome != nil || pol.replaceFailures || pol.stale != nil
	pol.usesTime = len(pol.stages) > 0 || pol.dl != nil
	pol.respTime = pol.cbOutcome != nil && pol.cbOutcome.slow || pol.dirOutcome != nil && pol.dirOutcome.adaptive != nil ||
		pol.replaceFailures || pol.stale != nil
	pol.onlyPrefix = pc.Match.OnlyPrefix()
	return pol, nil
}

func (pol *policy) tick(now time.Time) {
	for _, f := range pol.ticks {
		f(now)
	}
}

// match returns the first policy whose match holds, or nil; escaped is
// true when that policy refuses the path's encoded separator (400).
func (p *pluginContext) match(r *requestInfo) (pol *policy, escaped bool) {
	for _, pol := range p.policies {
		if pol.onlyPrefix && !r.escSlash { // MatchNormal's answer, without the call (Match.OnlyPrefix)
			// Inline: a path that starts with the prefix exactly. Only
			// ignore_case or a trailing "/" (the path without it) can
			// match otherwise.
			m := pol.cfg.Match
			pre := m.PathPrefix
			if len(r.path) >= len(pre) && streq.Equal(r.path[:len(pre)], pre) ||
				(m.IgnoreCase || pre[len(pre)-1] == '/') && m.PrefixMatches(r.path) {
				return pol, false
			}
			continue
		}
		m, auth := pol.cfg.Match, ""
		if m != nil && m.Authority != "" {
			auth = r.authority()
		}
		switch m.MatchNormal(r.method, r.path, auth, r.escSlash, r.header) {
		case config.Matched:
			return pol, false
		case config.RejectEscapedSlash:
			return pol, true
		}
	}
	return nil, false
}

// rejectEscapedSlash answers 400 escaped_slash before any pattern runs.
func (h *httpContext) rejectEscapedSlash() {
	h.pol.m.escapedSlash.inc(1)
	h.local = true
	headers := [][2]string{{"x-breakwater-policy", h.pol.name}, {"x-breakwater-reason", config.ReasonEscapedSlash}}
	if err := proxywasm.SendHttpResponse(400, headers, nil, -1); err != nil {
		proxywasm.LogErrorf("breakwater: %s: cannot send local response: %v", h.pol.name, err)
	}
}

// reject sends the local response of a rejection, gives back what earlier
// stages took, and counts it. The status is the policy's for the reason
// (fallback, rate_limit.status, fault.abort.status or the default); a
// fallback that covers the reason adds its headers and body. extra headers
// (e.g. Retry-After) are added.
func (h *httpContext) reject(now time.Time, reason config.Reason, extra [][2]string) verdict {
	h.rollback(now)
	h.pol.m.rejected[reason].inc(1)
	headers := make([][2]string, 0, 4+len(extra))
	headers = append(headers,
		[2]string{"x-breakwater-policy", h.pol.name},
		[2]string{"x-breakwater-reason", string(reason)})
	headers = append(headers, extra...)
	status := uint32(h.pol.cfg.RejectStatus(reason))
	var body []byte
	if fb := h.pol.cfg.Fallback; fb.Covers(reason) {
		h.pol.fallbackServed.inc(1)
		if sh, b, age, ok := h.staleResponse(now); ok {
			// The last good response of this cache key, while younger than
			// max_age, with its representation headers.
			status, body = 200, b
			headers = append(headers, [2]string{"x-breakwater-stale", "true"},
				[2]string{"age", strconv.FormatInt(int64(age/time.Second), 10)})
			headers = append(headers, sh...)
		} else {
			for _, hd := range fb.Headers {
				headers = append(headers, [2]string{hd.Name, hd.Value})
			}
			body = []byte(fb.Body)
		}
	}
	if h.dlOn {
		h.dlRejected(reason, int(status))
	}
	h.local = true
	h.capture = false
	if err := proxywasm.SendHttpResponse(status, headers, body, -1); err != nil {
		proxywasm.LogErrorf("breakwater: %s: cannot send local response: %v", h.pol.name, err)
	}
	return reject
}

// staleResponse is the stale fallback for this request, if there is one.
func (h *httpContext) staleResponse(now time.Time) ([][2]string, []byte, time.Duration, bool) {
	if h.pol.stale == nil || h.req.method != "GET" {
		return nil, nil, 0, false
	}
	return h.pol.stale.lookup(&h.req, now)
}

// ceilSeconds renders a duration as whole seconds, rounded up.
func ceilSeconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
