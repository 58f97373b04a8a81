package filter

import (
	"time"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/patterns/fault"
)

// faultStage injects failures for game days: an abort (local reply with
// fault.abort.status, reason fault_abort) or a delay (the request is paused
// and resumed from the tick). With only_with_header, only requests carrying
// that header are touched. The draw comes from the plugin's random source.
type faultStage struct {
	_       [0]func() // not comparable: no generated equality in the .wasm
	p       *pluginContext
	cfg     *config.Fault
	s       fault.Settings
	aborted counter
	delayed counter
}

func newFaultStage(p *pluginContext, ns string, pol *policy, c *config.Fault) (*faultStage, error) {
	return &faultStage{p: p, cfg: c, s: c.Settings,
		aborted: p.m.counter(metricdef.Name(ns, metricdef.FaultAbortedTotal, pol.name)),
		delayed: p.m.counter(metricdef.Name(ns, metricdef.FaultDelayedTotal, pol.name))}, nil
}

func (s *faultStage) onRequest(h *httpContext, now time.Time) verdict {
	if s.cfg.OnlyWithHeader != "" {
		if _, ok := h.req.header(s.cfg.OnlyWithHeader); !ok {
			return pass
		}
	}
	abort, delay := fault.Decide(s.s, s.p.rnd)
	if abort {
		s.aborted.inc(1)
		return h.reject(now, config.ReasonFaultAbort, nil)
	}
	if delay > 0 {
		s.delayed.inc(1)
		s.p.wait(h, now.Add(delay))
		return wait
	}
	return pass
}
