package filter

import (
	"fmt"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/patterns/breaker"
)

// breakerStage enforces circuit_breaker: admit, then report. Admission
// returns a token carrying the breaker's generation; the outcome is reported
// with it from on_http_response_headers, and a request that never reaches an
// outcome (stream reset, rejected by a later stage) releases its token
// without counting as a success.
type breakerStage struct {
	p       *pluginContext
	pol     *policy
	cfg     *config.CircuitBreaker
	b       *breaker.Breaker
	loc     *breaker.Local // this VM's views (see breaker.Local)
	onTrans func(key string, t breaker.Transition)
	// slow: the breaker counts slow calls (slow_call_duration set): only
	// then does it read an outcome's duration.
	slow        bool
	state       gauge
	transitions [3]counter // by the state entered: closed, open, half_open
}

// cbHold is what a request admitted by the breaker holds.
type cbHold struct {
	_    [0]func() // not comparable: no generated equality in the .wasm
	key  string
	tok  breaker.Token
	done bool
}

func newBreakerStage(p *pluginContext, ns string, pol *policy, c *config.CircuitBreaker) (*breakerStage, error) {
	b := breaker.New(pol.prefix+"/cb", c.MaxKeys, c.Settings)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("circuit_breaker: %w", err)
	}
	b.SetHashKey(p.hashKey)
	b.ReuseBuffer() // one worker; the host copies what a set is given
	st := &breakerStage{
		p: p, pol: pol, cfg: c, b: b, slow: c.Settings.SlowCallDuration > 0,
		state: p.m.gauge(metricdef.Name(ns, metricdef.CircuitBreakerState, pol.name)),
	}
	for _, to := range []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen} {
		st.transitions[to] = p.m.counter(metricdef.Name(ns, metricdef.CircuitBreakerTransitionsTotal, pol.name, metricdef.LabelTo, to.String()))
	}
	views := 1
	if len(c.Key) > 0 {
		views = min(c.MaxKeys, maxBreakerViews)
	}
	st.loc = b.NewLocal(tickIdle*time.Millisecond, views)
	st.onTrans = st.recordOne
	pol.ticks = append(pol.ticks, st.tick)
	return st, nil
}

// maxBreakerViews bounds the keys of a keyed breaker a VM keeps a local
// view of (breaker.Local; evicting one flushes its successes).
const maxBreakerViews = 256

// tick flushes the successes counted locally and re-reads the views used
// since the last tick (breaker.Local.Tick).
func (s *breakerStage) tick(now time.Time) {
	if err := s.loc.Tick(s.p.st, now, s.onTrans); err != nil {
		logLimited("breakwater: %s: circuit breaker successes not flushed, kept for the next tick: %v", s.pol.name, err)
	}
}

func (s *breakerStage) onRequest(h *httpContext, now time.Time) verdict {
	key := h.req.key(s.cfg.Key)
	tok, ok := s.loc.Fresh(key, now.UnixNano()) // admitted by the view: no store, no transition
	if !ok {
		var trs []breaker.Transition
		var err error
		tok, ok, trs, err = s.loc.Allow(s.p.st, key, now)
		if trs != nil {
			s.record(key, trs)
		}
		if err != nil {
			logLimited("breakwater: %s: circuit breaker state unavailable, request admitted: %v", s.pol.name, err)
			return pass
		}
		if !ok {
			return h.reject(now, config.ReasonCircuitOpen, nil)
		}
	}
	hold := &h.cbVal
	hold.key, hold.tok, hold.done = key, tok, false
	h.cb = hold
	if tok.Probe {
		// Only a probe's release does something (breaker.Breaker.Release):
		// any other token needs neither an undo nor an end record (a
		// request rejected by a later stage, or reset, never reports).
		rec := holdRec{kind: holdBreaker, cb: s, cbh: hold}
		h.undo = append(h.undo, rec)
		h.onEnd = append(h.onEnd, rec)
	}
	return pass
}

// onOutcome reports the upstream outcome of an admitted request (failure:
// classified by the policy's failure_on, this breaker's). A success that
// the worker's view counts locally (breaker.Local.Count) needs no instant,
// so *now is zero unless the policy reads it anyway (policy.respTime); the
// clock is read, into *now for the callback's other stages, only for an
// outcome that goes to the store.
func (s *breakerStage) onOutcome(h *httpContext, failure bool, now *time.Time) {
	hold := h.cb
	if hold == nil || hold.done {
		return
	}
	hold.done = true
	if !failure && !s.slow && s.loc.Count(hold.key, hold.tok) {
		return
	}
	if !s.pol.respTime { // *now was not read (policy.respTime)
		*now = clock()
	}
	bo := breaker.Outcome{Failure: failure} // classified by the policy's failure_on, this breaker's
	if s.slow {
		bo.Duration = upstreamTime(h, *now) // read by the breaker only to tell slow calls
	}
	trs, err := s.loc.Report(s.p.st, hold.key, hold.tok, *now, bo)
	if err != nil {
		logLimited("breakwater: %s: circuit breaker outcome lost: %v", s.pol.name, err)
	}
	if trs != nil {
		s.record(hold.key, trs)
	}
}

// upstreamTime is the latency of the upstream call: from the release of
// the request (not its arrival, so the filter's own waits never count as
// slow), never negative.
func upstreamTime(h *httpContext, now time.Time) time.Duration {
	start := h.released
	if start.IsZero() {
		start = h.arrived
	}
	return max(now.Sub(start), 0)
}

func (s *breakerStage) release(hold *cbHold, now time.Time) {
	if hold.done {
		return
	}
	hold.done = true
	if err := s.loc.Release(s.p.st, hold.key, hold.tok, now); err != nil {
		logLimited("breakwater: %s: circuit breaker release lost: %v", s.pol.name, err)
	}
}

// record logs one info line per transition and updates the metrics.
func (s *breakerStage) record(key string, trs []breaker.Transition) {
	for _, t := range trs {
		s.recordOne(key, t)
	}
}

func (s *breakerStage) recordOne(key string, t breaker.Transition) {
	if int(t.To) < len(s.transitions) {
		s.transitions[t.To].inc(1)
	}
	s.state.set(int64(t.To))
	proxywasm.LogInfof("breakwater: circuit_breaker: policy=%s key=%q from=%s to=%s failure_rate=%.3f slow_rate=%.3f calls=%d trip=%d generation=%d",
		s.pol.name, key, t.From, t.To, t.FailureRate, t.SlowRate, t.Calls, t.Trip, t.Generation)
}
