package config

import (
	"slices"
	"strings"

	"github.com/breakwater/breakwater/internal/streq"
	"github.com/breakwater/breakwater/patterns/normalize"
	"github.com/breakwater/breakwater/patterns/ratelimit"
)

// MatchResult is the outcome of a Match on a request.
type MatchResult uint8

const (
	// NoMatch: some condition does not hold.
	NoMatch MatchResult = iota
	// Matched: every condition holds.
	Matched
	// RejectEscapedSlash: the path holds an encoded separator (%2F, %5C)
	// and the match has a path condition with escaped_slashes "reject":
	// the request is answered 400 escaped_slash.
	RejectEscapedSlash
)

// Matches says whether a request given as sent (raw :path and :authority,
// scheme http) satisfies every condition of m; a path that Match would
// reject counts as no match. A nil Match (no "match" in the policy)
// matches every request. Tools and tests use it; the plugin normalises
// once per request and calls MatchNormal.
func (m *Match) Matches(method, path, authority string, header func(name string) (string, bool)) bool {
	p, enc := normalize.Path(path)
	return m.MatchNormal(method, p, normalize.Authority(authority, "http"), enc, header) == Matched
}

// MatchNormal decides on a request whose path and authority are in normal
// form (normalize.Path, normalize.Authority); escapedSlash is what
// normalize.Path reported. header returns a request header's value by
// lower-case name and whether it is present; it is only called for
// match.headers. A nil Match matches every request.
func (m *Match) MatchNormal(method, path, authority string, escapedSlash bool, header func(name string) (string, bool)) MatchResult {
	if m == nil {
		return Matched
	}
	if m.PathPrefix != "" || m.PathExact != "" || m.PathRegex != nil {
		if escapedSlash && m.EscapedSlashes == EscapedSlashesReject {
			return RejectEscapedSlash
		}
		switch {
		case m.PathPrefix != "" && !prefixMatches(path, m.PathPrefix, m.IgnoreCase):
			return NoMatch
		case m.PathExact != "" && !(path == m.PathExact || m.IgnoreCase && strings.EqualFold(path, m.PathExact)):
			return NoMatch
		case m.PathRegex != nil && !m.PathRegex.MatchString(path):
			return NoMatch
		}
	}
	if len(m.Methods) > 0 && !slices.ContainsFunc(m.Methods, func(x string) bool { return strings.EqualFold(x, method) }) {
		return NoMatch
	}
	if m.Authority != "" && !authorityMatches(m.Authority, authority) {
		return NoMatch
	}
	for i := range m.Headers {
		h := &m.Headers[i]
		if header == nil {
			return NoMatch
		}
		v, ok := header(h.Name)
		if !ok {
			return NoMatch
		}
		switch h.Kind {
		case HeaderExact:
			if v != h.Value {
				return NoMatch
			}
		case HeaderPrefix:
			if !strings.HasPrefix(v, h.Value) {
				return NoMatch
			}
		}
	}
	return Matched
}

// OnlyPrefix says whether path_prefix is m's only condition. For such a
// match and a path without an encoded separator, MatchNormal is Matched
// exactly when PrefixMatches holds (and NoMatch otherwise), whatever the
// method, authority and headers.
func (m *Match) OnlyPrefix() bool {
	return m != nil && m.PathPrefix != "" && m.PathExact == "" && m.PathRegex == nil &&
		len(m.Methods) == 0 && m.Authority == "" && len(m.Headers) == 0
}

// PrefixMatches is MatchNormal's path_prefix condition on a normal path.
func (m *Match) PrefixMatches(path string) bool {
	return prefixMatches(path, m.PathPrefix, m.IgnoreCase)
}

// prefixMatches: path starts with prefix; a prefix ending in "/" also
// matches the path without it (a normal path has no trailing slash). The
// exact compare is streq.Equal's, with word loads.
func prefixMatches(path, prefix string, fold bool) bool {
	n := len(prefix)
	if len(path) < n {
		if n--; n == 0 || prefix[n] != '/' || len(path) != n {
			return false
		}
	}
	return streq.Equal(path[:n], prefix[:n]) || fold && strings.EqualFold(path[:n], prefix[:n])
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
