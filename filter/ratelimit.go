package filter

import (
	"strconv"
	"time"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/patterns/ratelimit"
)

// rateLimitStage enforces rate_limit.limits: a request must pass every
// limit; one rejected by a limit consumes nothing from the others
// (ratelimit.AllowAll admits in order and refunds on rejection).
type rateLimitStage struct {
	p       *pluginContext
	cfg     *config.RateLimit
	limits  []*limitRT
	checks  []ratelimit.Check // reused per request (a VM is single-threaded)
	headers bool
}

type limitRT struct {
	cfg      *config.Limit
	lim      *ratelimit.Limiter
	settings ratelimit.Settings            // default tier
	tiers    map[string]ratelimit.Settings // named tiers
	limited  counter
}

func settingsOf(alg config.Algorithm, r config.Rate) (ratelimit.Settings, error) {
	a, err := ratelimit.ParseAlgorithm(string(alg))
	if err != nil {
		return ratelimit.Settings{}, err
	}
	return ratelimit.Settings{Algorithm: a, Requests: r.Requests, Per: r.Per, Burst: r.Burst, MaxDelay: r.MaxDelay}.Normalize()
}

func newRateLimitStage(p *pluginContext, ns string, pol *policy, rc *config.RateLimit) (*rateLimitStage, error) {
	s := &rateLimitStage{p: p, cfg: rc, headers: rc.Headers}
	for _, lc := range rc.Limits {
		if lc.Scope == config.ScopeGlobal {
			continue // decided by the rate limit service (not built here yet: config.Load refuses it)
		}
		st, err := settingsOf(lc.Algorithm, lc.Rate)
		if err != nil {
			return nil, err
		}
		l := &limitRT{
			cfg:      lc,
			lim:      ratelimit.NewLimiter(pol.prefix+"/rl/"+lc.Name, lc.MaxKeys),
			settings: st,
			limited:  p.m.counter(ns + "." + pol.name + ".rate_limit." + lc.Name + ".limited_total"),
		}
		if lc.Tier != nil {
			l.tiers = map[string]ratelimit.Settings{}
			for name, r := range lc.Tier.Limits {
				ts, err := settingsOf(lc.Algorithm, r)
				if err != nil {
					return nil, err
				}
				l.tiers[name] = ts
			}
		}
		s.limits = append(s.limits, l)
	}
	s.checks = make([]ratelimit.Check, len(s.limits))
	return s, nil
}

func (s *rateLimitStage) onRequest(h *httpContext, now time.Time) verdict {
	for i, l := range s.limits {
		st := l.settings
		if l.tiers != nil {
			if ts, ok := l.tiers[h.req.part(l.cfg.Tier.From)]; ok {
				st = ts
			}
		}
		s.checks[i] = ratelimit.Check{Limiter: l.lim, Key: h.req.key(l.cfg.Key), Settings: st}
	}
	res, err := ratelimit.AllowAll(s.p.st, now, 1, s.checks)
	if err != nil {
		// Shared data failed or stayed contended: fail open, say so.
		logLimited("breakwater: %s: rate limit state unavailable, request admitted: %v", h.pol.name, err)
		return pass
	}
	if !res.Allowed {
		d := res.Decisions[res.Deciding]
		s.limits[res.Deciding].limited.inc(1)
		var extra [][2]string
		if s.headers {
			extra = append(rlHeaders(d), [2]string{"retry-after", ceilSeconds(max(d.RetryAfter, time.Second))})
		}
		return h.reject(now, config.ReasonRateLimited, extra)
	}
	checks := append([]ratelimit.Check(nil), s.checks...)
	h.undo = append(h.undo, func(now time.Time) {
		for _, c := range checks {
			_ = c.Limiter.Refund(s.p.st, c.Key, c.Settings, now, 1)
		}
	})
	if s.headers && len(res.Decisions) > 0 {
		h.respHeaders = append(h.respHeaders, rlHeaders(res.Decisions[res.Deciding])...)
	}
	if res.Delay > 0 {
		// leaky_bucket shaping: paused, resumed by the tick when due.
		s.p.waiting.add(h, now.Add(res.Delay))
		return wait
	}
	return pass
}

func rlHeaders(d ratelimit.Decision) [][2]string {
	return [][2]string{
		{"ratelimit-limit", strconv.FormatInt(d.Limit, 10)},
		{"ratelimit-remaining", strconv.FormatInt(max(d.Remaining, 0), 10)},
		{"ratelimit-reset", ceilSeconds(d.Reset)},
	}
}
