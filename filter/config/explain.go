package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

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
type eobj []ekv

type ekv struct {
	k string
	v any
}

func (o eobj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalNoEscape(e.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalNoEscape(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func (o *eobj) add(k string, v any) { *o = append(*o, ekv{k, v}) }

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
	o.add("namespace", c.Namespace)
	o.add("max_shared_bytes", c.MaxSharedBytes)
	pols := make([]eobj, len(c.Policies))
	for i, p := range c.Policies {
		pols[i] = explainPolicy(p)
	}
	o.add("policies", pols)
	return o
}

func explainPolicy(p *Policy) eobj {
	var o eobj
	o.add("name", p.Name)
	if p.Match != nil {
		o.add("match", explainMatch(p.Match))
	}
	if p.RateLimit != nil {
		o.add("rate_limit", explainRateLimit(p.RateLimit))
	}
	if p.CircuitBreaker != nil {
		o.add("circuit_breaker", explainBreaker(p.CircuitBreaker))
	}
	if b := p.Bulkhead; b != nil {
		var e eobj
		e.add("key", keyStrings(b.Key))
		e.add("max_concurrent", b.MaxConcurrent)
		if b.QueueSize > 0 {
			e.add("queue", eobj{{"max_size", b.QueueSize}, {"max_wait", dur(b.MaxWait)}})
		}
		e.add("lease_ttl", dur(b.LeaseTTL))
		e.add("max_keys", b.MaxKeys)
		o.add("bulkhead", e)
	}
	if r := p.Retry; r != nil {
		var e eobj
		e.add("max_retries", r.MaxRetries)
		e.add("retry_on", r.RetryOn)
		if len(r.RetriableStatusCodes) > 0 {
			e.add("retriable_status_codes", r.RetriableStatusCodes)
		}
		if r.PerTryTimeout > 0 {
			e.add("per_try_timeout", dur(r.PerTryTimeout))
		}
		e.add("methods", r.Methods)
		if r.Budget != nil {
			ratio, minPS := r.Budget.Values()
			e.add("budget", eobj{{"ratio", ratio}, {"min_per_second", minPS}})
		}
		o.add("retry", e)
	}
	if t := p.Timeout; t != nil {
		var e eobj
		if t.Request > 0 {
			e.add("request", dur(t.Request))
		}
		if d := t.Deadline; d != nil {
			e.add("deadline", eobj{{"propagate", d.Propagate}, {"min_remaining", dur(d.MinRemaining)}, {"max", dur(d.Max)}})
		}
		if a := t.Adaptive; a != nil {
			e.add("adaptive", eobj{{"quantile", a.Quantile}, {"multiplier", a.Multiplier}, {"extra", dur(a.Extra)},
				{"min", dur(a.Min)}, {"max", dur(a.Max)}, {"min_samples", a.MinSamples}})
		}
		o.add("timeout", e)
	}
	if f := p.Fallback; f != nil {
		var e eobj
		e.add("on", f.On)
		if f.Status != 0 {
			e.add("status", f.Status)
		}
		h := eobj{}
		for _, x := range f.Headers {
			h.add(x.Name, x.Value)
		}
		e.add("headers", h)
		e.add("body", f.Body)
		if f.Stale != nil {
			e.add("stale", eobj{{"max_age", dur(f.Stale.MaxAge)}, {"max_body_bytes", f.Stale.MaxBodyBytes}, {"key", keyStrings(f.Stale.Key)}})
		}
		o.add("fallback", e)
	}
	if f := p.Fault; f != nil {
		var e eobj
		if f.HasAbort {
			e.add("abort", eobj{{"percent", f.AbortPercent}, {"status", f.AbortStatus}})
		}
		if f.HasDelay {
			e.add("delay", eobj{{"percent", f.DelayPercent}, {"duration", dur(f.Delay)}})
		}
		if f.OnlyWithHeader != "" {
			e.add("only_with_header", f.OnlyWithHeader)
		}
		o.add("fault", e)
	}
	if d := p.DeadLetter; d != nil {
		o.add("dead_letter", eobj{{"cluster", d.Cluster}, {"on", d.On}, {"methods", d.Methods},
			{"max_body_bytes", d.MaxBodyBytes}, {"redact_headers", d.RedactHeaders}, {"timeout", dur(d.Timeout)}})
	}
	return o
}

func explainMatch(m *Match) eobj {
	var o eobj
	if m.PathPrefix != "" {
		o.add("path_prefix", m.PathPrefix)
	}
	if m.PathExact != "" {
		o.add("path_exact", m.PathExact)
	}
	if m.PathRegex != nil {
		s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m.PathRegex.String(), "^(?:"), "^(?i:"), ")$")
		o.add("path_regex", s)
	}
	if m.PathPrefix != "" || m.PathExact != "" || m.PathRegex != nil {
		o.add("ignore_case", m.IgnoreCase)
		es := "reject"
		if m.EscapedSlashes == EscapedSlashesKeep {
			es = "keep"
		}
		o.add("escaped_slashes", es)
	}
	if len(m.Methods) > 0 {
		o.add("methods", m.Methods)
	}
	if m.Authority != "" {
		o.add("authority", m.Authority)
	}
	if len(m.Headers) > 0 {
		hs := make([]eobj, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = eobj{{"name", h.Name}}
			switch h.Kind {
			case HeaderExact:
				hs[i].add("exact", h.Value)
			case HeaderPrefix:
				hs[i].add("prefix", h.Value)
			case HeaderPresent:
				hs[i].add("present", true)
			}
		}
		o.add("headers", hs)
	}
	return o
}

func explainRate(o *eobj, r ratelimit.Settings) {
	o.add("requests", r.Requests)
	o.add("per", dur(r.Per))
	if hasBurst(r.Algorithm) {
		o.add("burst", r.Burst)
	}
	if r.Algorithm == ratelimit.LeakyBucket {
		o.add("max_delay", dur(r.MaxDelay))
	}
}

func explainRateLimit(rl *RateLimit) eobj {
	var o eobj
	limits := make([]eobj, len(rl.Limits))
	for i, l := range rl.Limits {
		var e eobj
		e.add("name", l.Name)
		e.add("key", keyStrings(l.Key))
		e.add("scope", l.Scope)
		if l.Scope == ScopeGlobal {
			e.add("descriptor_key", l.DescriptorKey)
		}
		if l.Requests > 0 { // a global limit without local parameters has none
			e.add("algorithm", l.Algorithm.String())
			explainRate(&e, l.Settings)
			if l.Tier != nil {
				var lim eobj
				for _, name := range l.Tier.Names {
					var te eobj
					explainRate(&te, l.Tier.Limits[name])
					lim.add(name, te)
				}
				e.add("tier", eobj{{"from", l.Tier.From.String()}, {"default", l.Tier.Default}, {"limits", lim}})
			}
			e.add("max_keys", l.MaxKeys)
		}
		limits[i] = e
	}
	o.add("limits", limits)
	if s := rl.Service; s != nil {
		o.add("service", eobj{{"cluster", s.Cluster}, {"authority", s.Authority}, {"domain", s.Domain},
			{"timeout", dur(s.Timeout)}, {"failure_mode", s.FailureMode}})
	}
	o.add("headers", rl.Headers)
	o.add("status", rl.Status)
	return o
}

func explainBreaker(cb *CircuitBreaker) eobj {
	var o eobj
	o.add("key", keyStrings(cb.Key))
	var w eobj
	w.add("type", cb.Window.String())
	if cb.Window == breaker.TimeWindow {
		w.add("size", dur(cb.WindowDuration))
		w.add("buckets", cb.Buckets)
	} else {
		w.add("size", cb.WindowSize)
	}
	o.add("window", w)
	o.add("minimum_calls", cb.MinimumCalls)
	o.add("failure_rate_threshold", cb.FailureRateThreshold)
	o.add("consecutive_failures", cb.ConsecutiveFailures)
	if cb.SlowCallDuration > 0 {
		o.add("slow_call_duration", dur(cb.SlowCallDuration))
		o.add("slow_call_rate_threshold", cb.SlowCallRateThreshold)
	}
	o.add("open_duration", dur(cb.OpenDuration))
	o.add("max_open_duration", dur(cb.MaxOpenDuration))
	o.add("open_backoff", cb.OpenBackoff)
	o.add("half_open_calls", cb.HalfOpenCalls)
	o.add("half_open_max_wait", dur(cb.HalfOpenMaxWait))
	fo := cb.FailureOn
	statuses := fo.Statuses
	if statuses == nil {
		statuses = []int{}
	}
	o.add("failure_on", eobj{{"statuses", statuses}, {"reset", fo.Reset}, {"timeout", fo.Timeout}, {"connect_failure", fo.ConnectFailure}})
	o.add("mode", cb.Mode.String())
	o.add("max_keys", cb.MaxKeys)
	return o
}
