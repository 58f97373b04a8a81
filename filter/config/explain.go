package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/breakwater/breakwater/internal/ordjson"
	"github.com/breakwater/breakwater/patterns/breaker"
	"github.com/breakwater/breakwater/patterns/ratelimit"
)

// Explain renders the effective configuration: the parsed c in
// configuration syntax with every default filled in, keys in the order of
// the reference (docs/configuration.md), indented. Parse accepts the output
// and gives the same configuration back (a test checks it). Fields whose
// absence means "off" or "unset" (no match condition, no slow-call
// tracking, no fallback status, ...) are left out; so are the local
// parameters of a global limit that has none. "$schema" is not kept.
func (c *Config) Explain() ([]byte, error) {
	raw, err := json.Marshal(explainConfig(c))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// eobj is a JSON object that keeps its keys in insertion order.
type eobj = ordjson.Object

// dur renders a duration in configuration syntax, without zero tails:
// "5m" rather than "5m0s", "1h" rather than "1h0m0s".
func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func keyStrings(parts []KeyPart) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.String()
	}
	return out
}

func explainConfig(c *Config) eobj {
	var o eobj
	o.Add("namespace", c.Namespace)
	o.Add("max_shared_bytes", c.MaxSharedBytes)
	pols := make([]eobj, len(c.Policies))
	for i, p := range c.Policies {
		pols[i] = explainPolicy(p)
	}
	o.Add("policies", pols)
	return o
}

func explainPolicy(p *Policy) eobj {
	var o eobj
	o.Add("name", p.Name)
	if p.Match != nil {
		o.Add("match", explainMatch(p.Match))
	}
	if p.RateLimit != nil {
		o.Add("rate_limit", explainRateLimit(p.RateLimit))
	}
	if p.CircuitBreaker != nil {
		o.Add("circuit_breaker", explainBreaker(p.CircuitBreaker))
	}
	if b := p.Bulkhead; b != nil {
		var e eobj
		e.Add("key", keyStrings(b.Key))
		e.Add("max_concurrent", b.MaxConcurrent)
		if b.QueueSize > 0 {
			e.Add("queue", eobj{{"max_size", b.QueueSize}, {"max_wait", dur(b.MaxWait)}})
		}
		e.Add("lease_ttl", dur(b.LeaseTTL))
		e.Add("max_keys", b.MaxKeys)
		o.Add("bulkhead", e)
	}
	if r := p.Retry; r != nil {
		var e eobj
		e.Add("max_retries", r.MaxRetries)
		e.Add("retry_on", r.RetryOn)
		if len(r.RetriableStatusCodes) > 0 {
			e.Add("retriable_status_codes", r.RetriableStatusCodes)
		}
		if r.PerTryTimeout > 0 {
			e.Add("per_try_timeout", dur(r.PerTryTimeout))
		}
		e.Add("methods", r.Methods)
		if r.Budget != nil {
			ratio, minPS := r.Budget.Values()
			e.Add("budget", eobj{{"ratio", ratio}, {"min_per_second", minPS}})
		}
		o.Add("retry", e)
	}
	if t := p.Timeout; t != nil {
		var e eobj
		if t.Request > 0 {
			e.Add("request", dur(t.Request))
		}
		if d := t.Deadline; d != nil {
			e.Add("deadline", eobj{{"propagate", d.Propagate}, {"min_remaining", dur(d.MinRemaining)}, {"max", dur(d.Max)}})
		}
		if a := t.Adaptive; a != nil {
			e.Add("adaptive", eobj{{"quantile", a.Quantile}, {"multiplier", a.Multiplier}, {"extra", dur(a.Extra)},
				{"min", dur(a.Min)}, {"max", dur(a.Max)}, {"min_samples", a.MinSamples}})
		}
		o.Add("timeout", e)
	}
	if f := p.Fallback; f != nil {
		var e eobj
		e.Add("on", f.On)
		if f.Status != 0 {
			e.Add("status", f.Status)
		}
		h := eobj{}
		for _, x := range f.Headers {
			h.Add(x.Name, x.Value)
		}
		e.Add("headers", h)
		e.Add("body", f.Body)
		if f.Stale != nil {
			e.Add("stale", eobj{{"max_age", dur(f.Stale.MaxAge)}, {"max_body_bytes", f.Stale.MaxBodyBytes}, {"key", keyStrings(f.Stale.Key)}})
		}
		o.Add("fallback", e)
	}
	if f := p.Fault; f != nil {
		var e eobj
		if f.HasAbort {
			e.Add("abort", eobj{{"percent", f.AbortPercent}, {"status", f.AbortStatus}})
		}
		if f.HasDelay {
			e.Add("delay", eobj{{"percent", f.DelayPercent}, {"duration", dur(f.Delay)}})
		}
		if f.OnlyWithHeader != "" {
			e.Add("only_with_header", f.OnlyWithHeader)
		}
		o.Add("fault", e)
	}
	if d := p.DeadLetter; d != nil {
		o.Add("dead_letter", eobj{{"cluster", d.Cluster}, {"on", d.On}, {"methods", d.Methods},
			{"max_body_bytes", d.MaxBodyBytes}, {"redact_headers", d.RedactHeaders}, {"timeout", dur(d.Timeout)}})
	}
	return o
}

func explainMatch(m *Match) eobj {
	var o eobj
	if m.PathPrefix != "" {
		o.Add("path_prefix", m.PathPrefix)
	}
	if m.PathExact != "" {
		o.Add("path_exact", m.PathExact)
	}
	if m.PathRegex != nil {
		s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m.PathRegex.String(), "^(?:"), "^(?i:"), ")$")
		o.Add("path_regex", s)
	}
	if m.PathPrefix != "" || m.PathExact != "" || m.PathRegex != nil {
		o.Add("ignore_case", m.IgnoreCase)
		es := "reject"
		if m.EscapedSlashes == EscapedSlashesKeep {
			es = "keep"
		}
		o.Add("escaped_slashes", es)
	}
	if len(m.Methods) > 0 {
		o.Add("methods", m.Methods)
	}
	if m.Authority != "" {
		o.Add("authority", m.Authority)
	}
	if len(m.Headers) > 0 {
		hs := make([]eobj, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = eobj{{"name", h.Name}}
			switch h.Kind {
			case HeaderExact:
				hs[i].Add("exact", h.Value)
			case HeaderPrefix:
				hs[i].Add("prefix", h.Value)
			case HeaderPresent:
				hs[i].Add("present", true)
			}
		}
		o.Add("headers", hs)
	}
	return o
}

func explainRate(o *eobj, r ratelimit.Settings) {
	o.Add("requests", r.Requests)
	o.Add("per", dur(r.Per))
	if hasBurst(r.Algorithm) {
		o.Add("burst", r.Burst)
	}
	if r.Algorithm == ratelimit.LeakyBucket {
		o.Add("max_delay", dur(r.MaxDelay))
	}
}

func explainRateLimit(rl *RateLimit) eobj {
	var o eobj
	limits := make([]eobj, len(rl.Limits))
	for i, l := range rl.Limits {
		var e eobj
		e.Add("name", l.Name)
		e.Add("key", keyStrings(l.Key))
		e.Add("scope", l.Scope)
		if l.Scope == ScopeGlobal {
			e.Add("descriptor_key", l.DescriptorKey)
		}
		if l.Requests > 0 { // a global limit without local parameters has none
			e.Add("algorithm", l.Algorithm.String())
			explainRate(&e, l.Settings)
			if l.Tier != nil {
				var lim eobj
				for _, name := range l.Tier.Names {
					var te eobj
					explainRate(&te, l.Tier.Limits[name])
					lim.Add(name, te)
				}
				e.Add("tier", eobj{{"from", l.Tier.From.String()}, {"default", l.Tier.Default}, {"limits", lim}})
			}
			e.Add("max_keys", l.MaxKeys)
		}
		limits[i] = e
	}
	o.Add("limits", limits)
	if s := rl.Service; s != nil {
		o.Add("service", eobj{{"cluster", s.Cluster}, {"authority", s.Authority}, {"domain", s.Domain},
			{"timeout", dur(s.Timeout)}, {"failure_mode", s.FailureMode}})
	}
	o.Add("headers", rl.Headers)
	o.Add("status", rl.Status)
	return o
}

func explainBreaker(cb *CircuitBreaker) eobj {
	var o eobj
	o.Add("key", keyStrings(cb.Key))
	var w eobj
	w.Add("type", cb.Window.String())
	if cb.Window == breaker.TimeWindow {
		w.Add("size", dur(cb.WindowDuration))
		w.Add("buckets", cb.Buckets)
	} else {
		w.Add("size", cb.WindowSize)
	}
	o.Add("window", w)
	o.Add("minimum_calls", cb.MinimumCalls)
	o.Add("failure_rate_threshold", cb.FailureRateThreshold)
	o.Add("consecutive_failures", cb.ConsecutiveFailures)
	if cb.SlowCallDuration > 0 {
		o.Add("slow_call_duration", dur(cb.SlowCallDuration))
		o.Add("slow_call_rate_threshold", cb.SlowCallRateThreshold)
	}
	o.Add("open_duration", dur(cb.OpenDuration))
	o.Add("max_open_duration", dur(cb.MaxOpenDuration))
	o.Add("open_backoff", cb.OpenBackoff)
	o.Add("half_open_calls", cb.HalfOpenCalls)
	o.Add("half_open_max_wait", dur(cb.HalfOpenMaxWait))
	fo := cb.FailureOn
	statuses := fo.Statuses
	if statuses == nil {
		statuses = []int{}
	}
	o.Add("failure_on", eobj{{"statuses", statuses}, {"reset", fo.Reset}, {"timeout", fo.Timeout}, {"connect_failure", fo.ConnectFailure}})
	o.Add("mode", cb.Mode.String())
	o.Add("max_keys", cb.MaxKeys)
	return o
}
