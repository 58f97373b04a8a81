package config

import (
	"fmt"
	"strings"
)

// Warning is a configuration that is valid but almost certainly not what
// was meant: a policy that can never apply, a check that can never fire.
// The plugin starts with it; `breakwater validate` prints it.
type Warning struct {
	Path   string // the JSON path, as in Error
	Reason string
}

// String renders the one line `breakwater validate` prints.
func (w Warning) String() string {
	return "breakwater: config: warning: " + w.Path + ": " + w.Reason
}

// Warnings lists, in document order:
//   - a policy whose every request an earlier policy's match takes (it can
//     never apply). The check is conservative: it warns only when the
//     covering is certain from the conditions (a path prefix of the earlier
//     one, a subset of its methods, the same authority, header conditions
//     that imply its own), never for two regular expressions that differ;
//   - a circuit_breaker.slow_call_duration at or above the policy's
//     timeout.request (and adaptive.max when set): no call can be slow;
//   - a circuit_breaker.half_open_max_wait below the policy's request
//     timeout (timeout.request, or adaptive.max when larger): a probe that
//     is merely slow lets a second one in;
//   - a rate_limit.status below 400: clients take a rejection for a success.
func (c *Config) Warnings() []Warning {
	var ws []Warning
	for j, p := range c.Policies {
		path := index("policies", j)
		for i := range j {
			if q := c.Policies[i]; matchCovers(q.Match, p.Match) {
				ws = append(ws, Warning{path, fmt.Sprintf("never applies: every request it matches is taken first by policies[%d] (%s)", i, quote(q.Name))})
				break
			}
		}
		if cb := p.CircuitBreaker; cb != nil && cb.SlowCallDuration > 0 && p.Timeout != nil && p.Timeout.Request > 0 {
			longest, what := p.Timeout.Request, "timeout.request ("+dur(p.Timeout.Request)+")"
			if a := p.Timeout.Adaptive; a != nil && a.Max > longest {
				longest, what = a.Max, "timeout.adaptive.max ("+dur(a.Max)+")"
			}
			if cb.SlowCallDuration >= longest {
				ws = append(ws, Warning{path + ".circuit_breaker.slow_call_duration",
					fmt.Sprintf("%s is at or above %s: no call can be slow, the slow-call rate stays 0", dur(cb.SlowCallDuration), what)})
			}
		}
		if cb := p.CircuitBreaker; cb != nil && cb.HalfOpenMaxWait < cb.CallTimeout {
			// Only an explicit value can be below it: the default is at least CallTimeout.
			ws = append(ws, Warning{path + ".circuit_breaker.half_open_max_wait",
				fmt.Sprintf("%s is below the policy's longest request timeout (%s): a probe still waiting for its response lets another probe in",
					dur(cb.HalfOpenMaxWait), dur(cb.CallTimeout))})
		}
		if rl := p.RateLimit; rl != nil && rl.Status < 400 {
			ws = append(ws, Warning{path + ".rate_limit.status",
				fmt.Sprintf("%d is below 400: clients and retries take a rate-limited request for a success", rl.Status)})
		}
	}
	return ws
}

// matchCovers says whether every request b matches is certainly matched by
// a. It may answer false for a covering it cannot prove.
func matchCovers(a, b *Match) bool {
	if a == nil {
		return true
	}
	if b == nil {
		return false // a has a condition, b takes every request
	}
	return pathCovers(a, b) && methodsCover(a.Methods, b.Methods) &&
		authorityCovers(a.Authority, b.Authority) && headersCover(a.Headers, b.Headers)
}

func pathCovers(a, b *Match) bool {
	switch {
	case a.PathPrefix != "":
		switch {
		case b.PathPrefix != "":
			return strings.HasPrefix(b.PathPrefix, a.PathPrefix)
		case b.PathExact != "":
			return strings.HasPrefix(b.PathExact, a.PathPrefix)
		case b.PathRegex != nil:
			// Every match of b starts with its literal prefix.
			lit, _ := b.PathRegex.LiteralPrefix()
			return strings.HasPrefix(lit, a.PathPrefix)
		}
		return false
	case a.PathExact != "":
		return b.PathExact == a.PathExact
	case a.PathRegex != nil:
		switch {
		case b.PathExact != "":
			return a.PathRegex.MatchString(b.PathExact)
		case b.PathRegex != nil:
			return a.PathRegex.String() == b.PathRegex.String()
		}
		return false
	}
	return true
}

func methodsCover(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, m := range b {
		found := false
		for _, x := range a {
			if x == m {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func authorityCovers(a, b string) bool {
	if a == "" {
		return true
	}
	if b == "" {
		return false
	}
	if a == b {
		return true
	}
	if hasPort(a) {
		return false
	}
	host, _ := stripPort(b)
	return host == a
}

func headersCover(a, b []HeaderMatch) bool {
	for _, ah := range a {
		implied := false
		for _, bh := range b {
			if bh.Name == ah.Name && headerImplies(bh, ah) {
				implied = true
				break
			}
		}
		if !implied {
			return false
		}
	}
	return true
}

// headerImplies: a request meeting b meets a (same header name).
func headerImplies(b, a HeaderMatch) bool {
	switch a.Kind {
	case HeaderPresent:
		return true
	case HeaderExact:
		return b.Kind == HeaderExact && b.Value == a.Value
	case HeaderPrefix:
		return (b.Kind == HeaderExact || b.Kind == HeaderPrefix) && strings.HasPrefix(b.Value, a.Value)
	}
	return false
}
