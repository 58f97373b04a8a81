package filter

import (
	"errors"
	"strconv"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/filter/rls"
)

// Global limits (scope: global) are decided by a rate limit service that
// speaks envoyproxy/ratelimit's protocol, called over HTTP: one
// proxy_http_call (POST /json on service.cluster, service.timeout) per
// request carries one descriptor per global limit, {descriptor_key: key
// value} (the key value is the raw value of a one-part key, BuildKey's
// encoding of a longer one). The request is paused until the answer:
//
//   - OVER_LIMIT: rejected rate_limited; the local limits it passed are refunded;
//   - OK: resumed (after its leaky_bucket delay, if a local limit shapes it);
//   - a failure (no answer within the timeout, connection failure, a status
//     other than 200/429, a body that is not a RateLimitResponse):
//     failure_mode allow resumes, deny rejects, local decides the global
//     limits with their own local parameters. service_failures_total counts.
//
// The service's headers become RateLimit-* when its limit is the most
// restrictive: Limit = requestsPerUnit, Remaining = limitRemaining,
// Reset = durationUntilReset.
//
// Every failure also goes to the log, at most once per cause per minute per
// worker VM (svcWarnings), naming the policy, its global limits, the
// cluster, the cause and how many calls failed that way since the last
// warning. The minute is measured on the callback's clock reading.

// svcCause is why a call to the rate limit service failed.
type svcCause uint8

const (
	// causeUnknownCluster: proxy_http_call answered BadArgument, which
	// Envoy does for a cluster it does not know.
	causeUnknownCluster svcCause = iota
	// causeDispatch: proxy_http_call failed otherwise.
	causeDispatch
	// causeNoAnswer: no answer within service.timeout or the connection
	// failed (the callback has no headers, or the host's router answered
	// 503/504 for the reset, connect failure or timeout).
	causeNoAnswer
	// causeStatus: an answer with a status other than 200/429.
	causeStatus
	// causeBody: a 200/429 whose body is not a RateLimitResponse.
	causeBody
	numCauses
)

var causeText = [numCauses]string{
	causeUnknownCluster: "is unknown to the host (proxy_http_call: bad argument)",
	causeDispatch:       "could not be called",
	causeNoAnswer:       "did not answer (timeout or connection failure)",
	causeStatus:         "answered with an unexpected status",
	causeBody:           "answered with a body that is not a RateLimitResponse",
}

// warnEvery is the shortest interval between two warnings of one cause.
const warnEvery = time.Minute

// svcWarnings rate limits the failure warnings of one policy's service
// calls in one VM: one line per cause per warnEvery. Zero value: nothing
// warned yet. Memory: fixed, numCauses entries.
type svcWarnings struct {
	last   [numCauses]time.Time
	missed [numCauses]uint64 // failures since the last warning of the cause
}

// note records a failure at now and reports whether to warn, with the
// number of failures of that cause since the previous warning (this one
// included).
func (w *svcWarnings) note(c svcCause, now time.Time) (uint64, bool) {
	w.missed[c]++
	if !w.last[c].IsZero() && now.Sub(w.last[c]) < warnEvery {
		return 0, false
	}
	n := w.missed[c]
	w.last[c], w.missed[c] = now, 0
	return n, true
}

func (s *rateLimitStage) descriptors(h *httpContext) [][]rls.Entry {
	ds := make([][]rls.Entry, len(s.global))
	for i, l := range s.global {
		v := ""
		if len(l.cfg.Key) == 1 {
			v = h.req.part(l.cfg.Key[0])
		} else {
			v = h.req.key(l.cfg.Key)
		}
		ds[i] = []rls.Entry{{Key: l.cfg.DescriptorKey, Value: v}}
	}
	return ds
}

func (s *rateLimitStage) callService(h *httpContext, now time.Time, delay time.Duration) verdict {
	body := rls.EncodeRequest(s.svc.Domain, s.descriptors(h), 1)
	headers := [][2]string{
		{":method", "POST"}, {":path", "/json"}, {":authority", s.svc.Authority},
		{"content-type", "application/json"},
	}
	due := now.Add(delay)
	_, err := proxywasm.DispatchHttpCall(s.svc.Cluster, headers, body, nil, s.callTimeout,
		func(numHeaders, bodySize, _ int) {
			s.onAnswer(h, numHeaders, bodySize, due)
		})
	if err != nil {
		c := causeDispatch
		if errors.Is(err, types.ErrorStatusBadArgument) {
			c = causeUnknownCluster
		}
		return s.onFailure(h, now, due, c, err.Error())
	}
	return wait
}

// onAnswer runs when the service answered or the call failed.
func (s *rateLimitStage) onAnswer(h *httpContext, numHeaders, bodySize int, due time.Time) {
	defer h.protect(nil)
	if h.ended {
		return
	}
	now := clock()
	resp, c, detail := readAnswer(numHeaders, bodySize)
	var v verdict
	switch {
	case c != numCauses:
		v = s.onFailure(h, now, due, c, detail)
	case resp.OverLimit():
		v = s.overLimit(h, now, resp)
	default:
		s.keepHeaders(h, resp)
		v = s.afterGlobal(h, now, due)
	}
	if v == pass {
		h.resume(now)
	}
}

// readAnswer decodes the service's answer; the cause is numCauses when it
// is a RateLimitResponse, else why not, with a detail for the warning.
func readAnswer(numHeaders, bodySize int) (rls.Response, svcCause, string) {
	if numHeaders == 0 {
		return rls.Response{}, causeNoAnswer, "no response headers"
	}
	hs, err := proxywasm.GetHttpCallResponseHeaders()
	if err != nil {
		return rls.Response{}, causeNoAnswer, err.Error()
	}
	switch status := get(hs, ":status"); status {
	case "200", "429":
	case "503", "504":
		return rls.Response{}, causeNoAnswer, "status " + status
	default:
		return rls.Response{}, causeStatus, "status " + status
	}
	body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if err != nil {
		return rls.Response{}, causeBody, err.Error()
	}
	resp, err := rls.DecodeResponse(body)
	if err != nil {
		return rls.Response{}, causeBody, err.Error()
	}
	return resp, numCauses, ""
}

// afterGlobal: admitted by every limit; wait out a shaping delay if any.
func (s *rateLimitStage) afterGlobal(h *httpContext, now time.Time, due time.Time) verdict {
	if due.After(now) {
		s.p.wait(h, due)
		return wait
	}
	return pass
}

func (s *rateLimitStage) overLimit(h *httpContext, now time.Time, resp rls.Response) verdict {
	for i, st := range resp.Statuses {
		if st.Code == rls.CodeOverLimit && i < len(s.global) {
			s.global[i].limited.inc(1)
			return s.rejectWith(h, now, svcHeaders(st), st.Reset)
		}
	}
	return s.rejectWith(h, now, nil, time.Second)
}

func (s *rateLimitStage) keepHeaders(h *httpContext, resp rls.Response) {
	if !s.headers {
		return
	}
	for _, st := range resp.Statuses {
		if st.Limit > 0 {
			h.setRateHeaders(svcHeaders(st))
		}
	}
}

func svcHeaders(st rls.Status) [][2]string {
	if st.Limit == 0 {
		return nil
	}
	return [][2]string{
		{"ratelimit-limit", strconv.FormatInt(st.Limit, 10)},
		{"ratelimit-remaining", strconv.FormatInt(st.Remaining, 10)},
		{"ratelimit-reset", ceilSeconds(st.Reset)},
	}
}

// onFailure counts and reports a failed call, then applies
// service.failure_mode.
func (s *rateLimitStage) onFailure(h *httpContext, now time.Time, due time.Time, c svcCause, detail string) verdict {
	s.svcFailures.inc(1)
	if n, ok := s.warned.note(c, now); ok {
		proxywasm.LogWarnf("breakwater: policy %q: global limit(s) %s: rate limit service cluster %q %s: %s; failure_mode %s applied (%d such failure(s) in this worker since the last warning, at most one warning per minute)",
			s.pol.name, s.globalNames, s.svc.Cluster, causeText[c], detail, s.svc.FailureMode, n)
	}
	switch s.svc.FailureMode {
	case config.FailClosed:
		return s.rejectWith(h, now, nil, time.Second)
	case config.FailLocal:
		if _, v := s.admit(h, now, s.global); v != pass {
			return v
		}
	}
	return s.afterGlobal(h, now, due)
}
