package filter

import (
	"strconv"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

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
		logLimited("breakwater: %s: rate limit service call failed: %v", s.pol.name, err)
		return s.onFailure(h, now, due)
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
	resp, ok := readAnswer(numHeaders, bodySize)
	var v verdict
	switch {
	case !ok:
		v = s.onFailure(h, now, due)
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

func readAnswer(numHeaders, bodySize int) (rls.Response, bool) {
	if numHeaders == 0 {
		return rls.Response{}, false // timeout or connection failure
	}
	hs, err := proxywasm.GetHttpCallResponseHeaders()
	if status := get(hs, ":status"); err != nil || (status != "200" && status != "429") {
		return rls.Response{}, false
	}
	body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if err != nil {
		return rls.Response{}, false
	}
	resp, err := rls.DecodeResponse(body)
	return resp, err == nil
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

// onFailure applies service.failure_mode.
func (s *rateLimitStage) onFailure(h *httpContext, now time.Time, due time.Time) verdict {
	s.svcFailures.inc(1)
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
