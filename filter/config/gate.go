package config

import "strconv"

// NotImplemented lists the features of the contract that Parse accepts
// but the filter does not enforce yet. Load refuses a configuration that
// uses one of them ("<path>: not implemented yet") rather than silently
// ignoring it. Delete a key when its enforcement lands; the keys are
// listed in featureKeys (a test keeps the two in step).
//
// Always implemented (no key): namespace, policies, name, match, key
// parts, and rate_limit with algorithm token_bucket and scope local
// (limits, name, key, requests, per, burst, max_keys, status).
var NotImplemented = map[string]bool{}

// featureKeys is every key the gate knows, in the order it checks them
// within a policy. A feature is in use when:
//
//	rate_limit.algorithm.<name>    a limit has that algorithm (token_bucket included)
//	rate_limit.tier                a limit has a tier
//	rate_limit.scope.global        a limit has scope global
//	rate_limit.failure_mode.local  rate_limit.service.failure_mode is local
//	rate_limit.headers             rate_limit.headers is true (the default)
//	circuit_breaker, bulkhead, retry, timeout, fallback, fault, dead_letter: the block is present
//	circuit_breaker.window.time    the breaker has a time window
//	bulkhead.queue, retry.budget, timeout.deadline, timeout.adaptive,
//	fallback.stale                 that sub-block is present
var featureKeys = []string{
	"rate_limit.algorithm.token_bucket",
	"rate_limit.algorithm.gcra",
	"rate_limit.algorithm.fixed_window",
	"rate_limit.algorithm.sliding_window",
	"rate_limit.algorithm.leaky_bucket",
	"rate_limit.tier",
	"rate_limit.scope.global",
	"rate_limit.failure_mode.local",
	"rate_limit.headers",
	"circuit_breaker",
	"circuit_breaker.window.time",
	"bulkhead",
	"bulkhead.queue",
	"retry",
	"retry.budget",
	"timeout",
	"timeout.deadline",
	"timeout.adaptive",
	"fallback",
	"fallback.stale",
	"fault",
	"dead_letter",
}

// FeatureUse is one use of a gated feature: its key in NotImplemented and
// the JSON path where the configuration uses it.
type FeatureUse struct {
	Key  string
	Path string
}

// Features lists the gated features c uses, in document order of the
// policies and, within a policy, in enforcement order of the blocks.
func (c *Config) Features() []FeatureUse {
	var out []FeatureUse
	add := func(key, path string) { out = append(out, FeatureUse{key, path}) }
	for i, pol := range c.Policies {
		pp := "policies[" + strconv.Itoa(i) + "]"
		if rl := pol.RateLimit; rl != nil {
			for j, l := range rl.Limits {
				lp := pp + ".rate_limit.limits[" + strconv.Itoa(j) + "]"
				if l.Scope == ScopeGlobal {
					add("rate_limit.scope.global", lp+".scope")
				}
				if l.Algorithm != "" {
					add("rate_limit.algorithm."+string(l.Algorithm), lp+".algorithm")
				}
				if l.Tier != nil {
					add("rate_limit.tier", lp+".tier")
				}
			}
			if rl.Service != nil && rl.Service.FailureMode == FailLocal {
				add("rate_limit.failure_mode.local", pp+".rate_limit.service.failure_mode")
			}
			if rl.Headers {
				add("rate_limit.headers", pp+".rate_limit.headers")
			}
		}
		if cb := pol.CircuitBreaker; cb != nil {
			add("circuit_breaker", pp+".circuit_breaker")
			if cb.Window.Type == WindowTime {
				add("circuit_breaker.window.time", pp+".circuit_breaker.window.type")
			}
		}
		if b := pol.Bulkhead; b != nil {
			add("bulkhead", pp+".bulkhead")
			if b.Queue != nil {
				add("bulkhead.queue", pp+".bulkhead.queue")
			}
		}
		if r := pol.Retry; r != nil {
			add("retry", pp+".retry")
			if r.Budget != nil {
				add("retry.budget", pp+".retry.budget")
			}
		}
		if t := pol.Timeout; t != nil {
			add("timeout", pp+".timeout")
			if t.Deadline != nil {
				add("timeout.deadline", pp+".timeout.deadline")
			}
			if t.Adaptive != nil {
				add("timeout.adaptive", pp+".timeout.adaptive")
			}
		}
		if f := pol.Fallback; f != nil {
			add("fallback", pp+".fallback")
			if f.Stale != nil {
				add("fallback.stale", pp+".fallback.stale")
			}
		}
		if pol.Fault != nil {
			add("fault", pp+".fault")
		}
		if pol.DeadLetter != nil {
			add("dead_letter", pp+".dead_letter")
		}
	}
	return out
}

// Load is what the plugin calls at start: Parse, then the gate. A
// configuration that uses a feature listed in NotImplemented fails with
// "breakwater: config: <path>: not implemented yet", the first such use
// in Features order.
func Load(data []byte) (*Config, error) {
	c, err := Parse(data)
	if err != nil {
		return nil, err
	}
	for _, u := range c.Features() {
		if NotImplemented[u.Key] {
			return nil, &Error{Path: u.Path, Reason: "not implemented yet"}
		}
	}
	return c, nil
}
