package config

import (
	"slices"
	"strings"

	"github.com/breakwater/breakwater/patterns/ratelimit"
)

// Matches says whether a request satisfies every condition of m. A nil
// Match (no "match" in the policy) matches every request.
//
// path is the :path pseudo-header; its query string (from the first "?")
// is ignored. method and authority are the :method and :authority
// pseudo-headers. header returns a request header's value by lower-case
// name and whether it is present; it is only called for match.headers.
func (m *Match) Matches(method, path, authority string, header func(name string) (string, bool)) bool {
	if m == nil {
		return true
	}
	if m.PathPrefix != "" || m.PathExact != "" || m.PathRegex != nil {
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		switch {
		case m.PathPrefix != "" && !strings.HasPrefix(path, m.PathPrefix):
			return false
		case m.PathExact != "" && path != m.PathExact:
			return false
		case m.PathRegex != nil && !m.PathRegex.MatchString(path):
			return false
		}
	}
	if len(m.Methods) > 0 && !slices.ContainsFunc(m.Methods, func(x string) bool { return strings.EqualFold(x, method) }) {
		return false
	}
	if m.Authority != "" && !authorityMatches(m.Authority, authority) {
		return false
	}
	for i := range m.Headers {
		h := &m.Headers[i]
		if header == nil {
			return false
		}
		v, ok := header(h.Name)
		if !ok {
			return false
		}
		switch h.Kind {
		case HeaderExact:
			if v != h.Value {
				return false
			}
		case HeaderPrefix:
			if !strings.HasPrefix(v, h.Value) {
				return false
			}
		}
	}
	return true
}

// authorityMatches compares a configured authority (lower case) with a
// request's :authority, case-insensitively. A configured authority without
// a port matches a request authority with any port.
func authorityMatches(want, got string) bool {
	if strings.EqualFold(want, got) {
		return true
	}
	if hasPort(want) {
		return false
	}
	host, ok := stripPort(got)
	return ok && strings.EqualFold(want, host)
}

// hasPort: "host:port" or "[v6]:port" (a bare IPv6 literal in brackets has none).
func hasPort(a string) bool {
	_, ok := stripPort(a)
	return ok
}

// stripPort returns the host of "host:port" / "[v6]:port" and whether
// there was a port.
func stripPort(a string) (string, bool) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, false
	}
	if strings.HasPrefix(a, "[") {
		if i == 0 || a[i-1] != ']' {
			return a, false // "[::1]" without a port
		}
		return a[:i], true
	}
	if strings.IndexByte(a, ':') != i {
		return a, false // bare IPv6 without brackets: no port to strip
	}
	return a[:i], true
}

// RateFor returns the tier name and the Settings that apply to a request
// whose tier.from part has value (ignored without a tier): the named tier
// when it exists, else the default tier, i.e. the limit's own Settings.
func (l *Limit) RateFor(value string) (tier string, s ratelimit.Settings) {
	if l.Tier == nil {
		return "", l.Settings
	}
	if s, ok := l.Tier.Limits[value]; ok {
		return value, s
	}
	return l.Tier.Default, l.Settings
}

// IsFailureStatus says whether an upstream status counts as a failure.
func (f *FailureOn) IsFailureStatus(code int) bool {
	return slices.Contains(f.Statuses, code)
}

// Covers says whether the fallback applies to reason r. A nil Fallback
// covers nothing.
func (f *Fallback) Covers(r Reason) bool {
	return f != nil && slices.Contains(f.On, r)
}

// RejectStatus is the status of the local response the policy sends for
// reason r: fallback.status when the fallback covers r and sets a status,
// else rate_limit.status for rate_limited, fault.abort.status for
// fault_abort, else DefaultStatus(r).
func (p *Policy) RejectStatus(r Reason) int {
	if p.Fallback.Covers(r) && p.Fallback.Status != 0 {
		return p.Fallback.Status
	}
	switch {
	case r == ReasonRateLimited && p.RateLimit != nil:
		return p.RateLimit.Status
	case r == ReasonFaultAbort && p.Fault != nil && p.Fault.HasAbort:
		return p.Fault.AbortStatus
	}
	return DefaultStatus(r)
}
