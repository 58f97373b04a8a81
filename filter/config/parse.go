package config

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"github.com/breakwater/breakwater/patterns/breaker"
	"github.com/breakwater/breakwater/patterns/deadletter"
	"github.com/breakwater/breakwater/patterns/normalize"
	"github.com/breakwater/breakwater/patterns/ratelimit"
	"github.com/breakwater/breakwater/patterns/retry"
	"github.com/breakwater/breakwater/patterns/timeout"
)

// Parse decodes and validates a whole configuration (the reference is
// docs/configuration.md), applies the defaults and returns the typed result.
// The error, if any, is an *Error naming the first offending JSON path.
// The plugin starts exactly when Parse succeeds: every pattern's Settings
// are normalized here, by the same Normalize the plugin's stages use.
func Parse(data []byte) (cfg *Config, err error) {
	defer func() {
		// Safety net for the plugin's start: a bug here must fail the
		// configuration, not crash the VM. The fuzz test calls parse
		// directly, without this net.
		if r := recover(); r != nil {
			cfg, err = nil, &Error{Path: "$", Reason: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	c, e := parse(data)
	if e != nil {
		return nil, e
	}
	return c, nil
}

// Load is Parse returning a plain error: what the plugin calls at start and
// `breakwater validate` runs, so the two accept the same configurations.
func Load(data []byte) (*Config, error) {
	c, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func parse(data []byte) (*Config, *Error) {
	root, jerr := parseDocument(data)
	if jerr != nil {
		return nil, jerr
	}
	p := &parser{}
	c := p.config(object{"", root})
	if p.err != nil {
		return nil, p.err
	}
	return c, nil
}

// Defaults of the fields the configuration itself owns (the patterns'
// defaults are applied by their Settings.Normalize), one function per block.

// DefaultNamespace is the namespace when "namespace" is absent.
const DefaultNamespace = "breakwater"

// DefaultMaxKeys is max_keys when absent (rate limits, breakers, bulkheads).
const DefaultMaxKeys = 10000

func defaultRateLimit() RateLimit { return RateLimit{Headers: true, Status: 429} }

func defaultLimit() Limit { return Limit{Scope: ScopeLocal, MaxKeys: DefaultMaxKeys} }

func defaultRateLimitService() RateLimitService {
	return RateLimitService{Timeout: 25 * time.Millisecond, FailureMode: FailOpen}
}

// DefaultFailureOn is failure_on's default: statuses 500, 502, 503, 504,
// and reset, timeout and connect_failure.
func DefaultFailureOn() FailureOn {
	return FailureOn{Statuses: []int{500, 502, 503, 504}, Reset: true, Timeout: true, ConnectFailure: true}
}

func defaultRetry() Retry {
	return Retry{
		MaxRetries: 1,
		RetryOn:    []string{"5xx", "reset", "connect-failure"},
		Methods:    []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"},
	}
}

func defaultStale() Stale { return Stale{MaxBodyBytes: 65536} }

// DefaultStatus is the status of a local response for reason when neither
// rate_limit.status, fault.abort.status nor fallback.status says otherwise:
// 429 for rate_limited, 504 for deadline_exceeded, 503 for the others.
func DefaultStatus(r Reason) int {
	switch r {
	case ReasonRateLimited:
		return 429
	case ReasonDeadlineExceeded:
		return 504
	}
	return 503
}

// MaxCallTimeout bounds rate_limit.service.timeout: the host's
// dispatch_http_call takes its timeout in 32-bit milliseconds.
const MaxCallTimeout = time.Duration(math.MaxUint32) * time.Millisecond

// Upper bounds of the fields the configuration owns.
const (
	maxKeysCap = 1_000_000
	maxCount   = 1_000_000
)

// retryOnValues are the retry-on conditions of Envoy's router that the
// filter can ask for through x-envoy-retry-on (retriable-headers is left
// out: it needs header names the contract has no field for).
var retryOnValues = []string{
	"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
	"envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes",
	"http3-post-connect-failure",
	// gRPC (x-envoy-retry-grpc-on)
	"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
}

func (p *parser) config(o object) *Config {
	p.allow(o, "$schema", "namespace", "policies", "max_shared_bytes")
	c := &Config{Namespace: DefaultNamespace, MaxSharedBytes: DefaultMaxSharedBytes}
	if n, ok := p.integer(o, "max_shared_bytes", 1<<20, maxSharedBytesCap); ok {
		c.MaxSharedBytes = n
	}
	// "$schema" lets an editor find the JSON Schema; the plugin ignores it.
	p.str(o, "$schema")
	if ns, ok := p.str(o, "namespace"); ok && p.nameString(field(o.path, "namespace"), ns) {
		c.Namespace = ns
	}
	elems, path, ok := p.array(o, "policies")
	if !ok {
		p.required(o, "policies")
		return nil
	}
	if len(elems) == 0 {
		p.failf(path, "must not be empty")
		return nil
	}
	names := map[string]int{}
	for i, e := range elems {
		ep := index(path, i)
		pol := p.policy(e, ep)
		if !p.ok() {
			return nil
		}
		if j, dup := names[pol.Name]; dup {
			p.failf(field(ep, "name"), "duplicate policy name %s, already used by %s", quote(pol.Name), index(path, j))
			return nil
		}
		names[pol.Name] = i
		if i > 0 && c.Policies[i-1].Match == nil {
			p.failf(ep, "unreachable: %s has no match condition and takes every request", index(path, i-1))
			return nil
		}
		c.Policies = append(c.Policies, pol)
	}
	if !p.ok() {
		return nil
	}
	p.checkShared(c)
	if !p.ok() {
		return nil
	}
	return c
}

func (p *parser) policy(v *jvalue, path string) *Policy {
	o, ok := p.asObject(v, path)
	if !ok {
		return nil
	}
	p.allow(o, "name", "match", "rate_limit", "circuit_breaker", "bulkhead", "retry", "timeout", "fallback", "fault", "dead_letter")
	pol := &Policy{}
	if name, ok := p.str(o, "name"); ok {
		if p.nameString(field(path, "name"), name) {
			pol.Name = name
		}
	} else {
		p.required(o, "name")
	}
	if m, ok := p.sub(o, "match"); ok {
		pol.Match = p.match(m)
	}
	if b, ok := p.sub(o, "rate_limit"); ok {
		pol.RateLimit = p.rateLimit(b)
	}
	var cbObj object
	if b, ok := p.sub(o, "circuit_breaker"); ok {
		pol.CircuitBreaker, cbObj = p.circuitBreaker(b), b
	}
	if b, ok := p.sub(o, "bulkhead"); ok {
		pol.Bulkhead = p.bulkhead(b)
	}
	if b, ok := p.sub(o, "retry"); ok {
		pol.Retry = p.retry(b)
	}
	if b, ok := p.sub(o, "timeout"); ok {
		pol.Timeout = p.timeout(b)
	}
	if cb := pol.CircuitBreaker; cb != nil && p.ok() {
		// The breaker's half_open_max_wait derives from the policy's timeout.
		if t := pol.Timeout; t != nil {
			cb.CallTimeout = t.Request
			if t.Adaptive != nil {
				cb.CallTimeout = max(cb.CallTimeout, t.Adaptive.Max)
			}
		}
		n, err := cb.Settings.Normalize()
		if p.settle(cbObj.path, err) {
			cb.Settings = n
		}
	}
	if b, ok := p.sub(o, "fallback"); ok {
		pol.Fallback = p.fallback(b)
	}
	if b, ok := p.sub(o, "fault"); ok {
		pol.Fault = p.fault(b)
	}
	if b, ok := p.sub(o, "dead_letter"); ok {
		pol.DeadLetter = p.deadLetter(b)
	}
	if !p.ok() {
		return nil
	}
	// Combinations across blocks.
	if pol.Retry != nil && pol.Retry.PerTryTimeout > 0 && pol.Timeout != nil && pol.Timeout.Request > 0 &&
		pol.Retry.PerTryTimeout > pol.Timeout.Request {
		p.failf(path+".retry.per_try_timeout", "must be at most %s.timeout.request (%s), got %s", path, pol.Timeout.Request, pol.Retry.PerTryTimeout)
	}
	if pol.Fallback != nil {
		for i, r := range pol.Fallback.On {
			if need := reasonNeeds(pol, r); need != "" {
				p.failf(index(path+".fallback.on", i), "reason %s never happens: the policy has no %s", r, need)
				break
			}
		}
	}
	if pol.DeadLetter != nil {
		for i, r := range pol.DeadLetter.On {
			if r == deadletter.UpstreamFailure {
				continue // classified with the default failure_on without a breaker
			}
			if need := reasonNeeds(pol, Reason(r)); need != "" {
				p.failf(index(path+".dead_letter.on", i), "reason %s never happens: the policy has no %s", r, need)
				break
			}
		}
	}
	if !p.ok() {
		return nil
	}
	return pol
}

// reasonNeeds returns the block a policy lacks to ever produce reason r,
// or "" when it can produce it.
func reasonNeeds(pol *Policy, r Reason) string {
	switch r {
	case ReasonRateLimited:
		if pol.RateLimit == nil {
			return "rate_limit"
		}
	case ReasonCircuitOpen, ReasonUpstreamFailure:
		if pol.CircuitBreaker == nil {
			return "circuit_breaker"
		}
	case ReasonBulkheadFull:
		if pol.Bulkhead == nil {
			return "bulkhead"
		}
	case ReasonDeadlineExceeded:
		if pol.Timeout == nil || pol.Timeout.Deadline == nil {
			return "timeout.deadline"
		}
	case ReasonFaultAbort:
		if pol.Fault == nil || !pol.Fault.HasAbort {
			return "fault.abort"
		}
	}
	return ""
}

func (p *parser) match(o object) *Match {
	p.allow(o, "path_prefix", "path_exact", "path_regex", "ignore_case", "escaped_slashes", "methods", "authority", "headers")
	if !p.ok() || len(o.v.keys) == 0 {
		return nil // {} is the same as no match: every request
	}
	m := &Match{}
	seenPath := ""
	for _, k := range o.v.keys {
		if k == "path_prefix" || k == "path_exact" || k == "path_regex" {
			if seenPath != "" {
				p.failf(field(o.path, k), "at most one of path_prefix, path_exact, path_regex (%s is already set)", seenPath)
				return nil
			}
			seenPath = k
		}
	}
	if b, ok := p.boolean(o, "ignore_case"); ok {
		m.IgnoreCase = b
	}
	if s, ok := p.str(o, "escaped_slashes"); ok {
		switch s {
		case "reject":
			m.EscapedSlashes = EscapedSlashesReject
		case "keep":
			m.EscapedSlashes = EscapedSlashesKeep
		default:
			p.failf(field(o.path, "escaped_slashes"), "must be one of reject, keep, got %s", quote(s))
		}
	}
	if s, ok := p.str(o, "path_prefix"); ok && p.pathString(field(o.path, "path_prefix"), s) {
		n, _ := normalize.Path(s)
		if strings.HasSuffix(s, "/") && n != "/" {
			n += "/"
		}
		m.PathPrefix = n
	}
	if s, ok := p.str(o, "path_exact"); ok && p.pathString(field(o.path, "path_exact"), s) {
		m.PathExact, _ = normalize.Path(s)
	}
	if s, ok := p.str(o, "path_regex"); ok {
		m.PathRegex = p.regex(field(o.path, "path_regex"), s, m.IgnoreCase)
	}
	if ms, ok := p.methods(o, "methods"); ok {
		m.Methods = ms
	}
	if s, ok := p.nonEmpty(o, "authority", 256); ok {
		if strings.ContainsAny(s, " /?#") {
			p.failf(field(o.path, "authority"), "must be a host[:port], got %s", quote(s))
		}
		// Normal form; a default port (":80", ":443") is dropped, so such
		// an authority matches any port of its host.
		m.Authority = normalize.Authority(normalize.Authority(s, "http"), "https")
	}
	if elems, path, ok := p.array(o, "headers"); ok {
		if len(elems) == 0 {
			p.failf(path, "must not be empty")
		}
		if len(elems) > maxListLen {
			p.failf(path, "at most %d header conditions, got %d", maxListLen, len(elems))
		}
		for i, e := range elems {
			if hm, ok := p.headerMatch(e, index(path, i)); ok {
				m.Headers = append(m.Headers, hm)
			}
		}
	}
	if !p.ok() {
		return nil
	}
	return m
}

func (p *parser) pathString(path, s string) bool {
	switch {
	case !strings.HasPrefix(s, "/"):
		p.failf(path, "must start with \"/\", got %s", quote(s))
	case strings.ContainsAny(s, "?#"):
		p.failf(path, "must not contain \"?\" or \"#\" (the query string is ignored), got %s", quote(s))
	case hasControl(s) || strings.Contains(s, " "):
		p.failf(path, "must not contain spaces or control characters, got %s", quote(s))
	case len(s) > 4096:
		p.failf(path, "must be at most 4096 bytes, got %d", len(s))
	}
	return p.ok()
}

// regex compiles a path_regex: the expression must be valid on its own and
// is then anchored at both ends.
func (p *parser) regex(path, s string, ignoreCase bool) *regexp.Regexp {
	if s == "" {
		p.failf(path, "must not be empty")
		return nil
	}
	if len(s) > 4096 {
		p.failf(path, "must be at most 4096 bytes, got %d", len(s))
		return nil
	}
	if _, err := syntax.Parse(s, syntax.Perl); err != nil {
		p.failf(path, "invalid regular expression: %s", regexReason(err))
		return nil
	}
	flags := ""
	if ignoreCase {
		flags = "i"
	}
	re, err := regexp.Compile(`^(?` + flags + `:` + s + `)$`)
	if err != nil {
		p.failf(path, "invalid regular expression: %s", regexReason(err))
		return nil
	}
	return re
}

func regexReason(err error) string {
	if se, ok := err.(*syntax.Error); ok {
		return string(se.Code) + " " + quote(se.Expr)
	}
	return clip(err.Error())
}

func (p *parser) headerMatch(v *jvalue, path string) (HeaderMatch, bool) {
	o, ok := p.asObject(v, path)
	if !ok {
		return HeaderMatch{}, false
	}
	p.allow(o, "name", "exact", "prefix", "present")
	var hm HeaderMatch
	if s, ok := p.str(o, "name"); ok {
		hm.Name, _ = p.headerName(field(path, "name"), s)
	} else {
		p.required(o, "name")
	}
	set := ""
	for _, k := range o.v.keys {
		if k == "exact" || k == "prefix" || k == "present" {
			if set != "" {
				p.failf(field(path, k), "at most one of exact, prefix, present (%s is already set)", set)
				return HeaderMatch{}, false
			}
			set = k
		}
	}
	switch set {
	case "":
		p.failf(path, "needs one of exact, prefix, present")
	case "exact", "prefix":
		if s, ok := p.str(o, set); ok {
			if !headerValueOK(s) {
				p.failf(field(path, set), "must not contain CR, LF or NUL, got %s", quote(s))
			}
			hm.Value = s
			hm.Kind = HeaderExact
			if set == "prefix" {
				hm.Kind = HeaderPrefix
			}
		}
	case "present":
		if b, ok := p.boolean(o, "present"); ok {
			if !b {
				p.failf(field(path, "present"), "must be true (to match any value); false is not supported")
			}
			hm.Kind = HeaderPresent
		}
	}
	return hm, p.ok()
}

func (p *parser) rateLimit(o object) *RateLimit {
	p.allow(o, "limits", "service", "headers", "status")
	rl := defaultRateLimit()
	elems, lpath, ok := p.array(o, "limits")
	if !ok {
		p.required(o, "limits")
		return nil
	}
	if len(elems) == 0 {
		p.failf(lpath, "must not be empty")
		return nil
	}
	// The service is read first: a global limit's fields depend on its
	// failure_mode.
	if so, ok := p.sub(o, "service"); ok {
		rl.Service = p.service(so)
	}
	names := map[string]int{}
	global := false
	for i, e := range elems {
		ep := index(lpath, i)
		l := p.limit(e, ep, rl.Service)
		if !p.ok() {
			return nil
		}
		if j, dup := names[l.Name]; dup {
			p.failf(field(ep, "name"), "duplicate limit name %s, already used by %s", quote(l.Name), index(lpath, j))
			return nil
		}
		names[l.Name] = i
		global = global || l.Scope == ScopeGlobal
		rl.Limits = append(rl.Limits, l)
	}
	if rl.Service != nil && !global {
		p.failf(field(o.path, "service"), "set but no limit has scope \"global\"")
	}
	if b, ok := p.boolean(o, "headers"); ok {
		rl.Headers = b
	}
	p.status(o, "status", &rl.Status)
	if !p.ok() {
		return nil
	}
	return &rl
}

func (p *parser) service(o object) *RateLimitService {
	p.allow(o, "cluster", "authority", "domain", "timeout", "failure_mode")
	s := defaultRateLimitService()
	if v, ok := p.nonEmpty(o, "cluster", 256); ok {
		s.Cluster = v
	} else {
		p.required(o, "cluster")
	}
	s.Authority = s.Cluster
	if v, ok := p.nonEmpty(o, "authority", 256); ok {
		s.Authority = v
	}
	if v, ok := p.nonEmpty(o, "domain", 256); ok {
		s.Domain = v
	} else {
		p.required(o, "domain")
	}
	if p.duration(o, "timeout", false, &s.Timeout) && s.Timeout > MaxCallTimeout {
		p.failf(field(o.path, "timeout"), "must be at most %s (the host call takes 32-bit milliseconds), got %s", MaxCallTimeout, s.Timeout)
	}
	if m, ok := p.enum(o, "failure_mode", string(FailOpen), string(FailClosed), string(FailLocal)); ok {
		s.FailureMode = FailureMode(m)
	}
	if !p.ok() {
		return nil
	}
	return &s
}

var localRateKeys = []string{"algorithm", "requests", "per", "burst", "max_delay", "max_keys"}

func (p *parser) limit(v *jvalue, path string, svc *RateLimitService) *Limit {
	o, ok := p.asObject(v, path)
	if !ok {
		return nil
	}
	p.allow(o, "name", "key", "scope", "descriptor_key", "algorithm", "requests", "per", "burst", "max_delay", "tier", "max_keys")
	l := defaultLimit()
	if s, ok := p.str(o, "name"); ok {
		if p.nameString(field(path, "name"), s) {
			l.Name = s
		}
	} else {
		p.required(o, "name")
	}
	l.Key = p.keyParts(o, "key")
	if s, ok := p.enum(o, "scope", string(ScopeLocal), string(ScopeGlobal)); ok {
		l.Scope = Scope(s)
	}
	if !p.ok() {
		return nil
	}
	if l.Scope == ScopeGlobal {
		if svc == nil {
			p.failf(field(path, "scope"), "scope \"global\" requires rate_limit.service")
		}
		if s, ok := p.nonEmpty(o, "descriptor_key", 256); ok {
			l.DescriptorKey = s
		} else {
			p.failf(field(path, "descriptor_key"), "required with scope \"global\"")
		}
		if len(l.Key) == 0 {
			p.failf(field(path, "key"), "required (non-empty) with scope \"global\": it gives the descriptor value")
		}
		if o.has("tier") {
			p.failf(field(path, "tier"), "not allowed with scope \"global\"")
		}
		if !p.ok() {
			return nil
		}
		if svc.FailureMode == FailLocal {
			// The limit's own parameters are its local fallback.
			l.Settings = p.rate(o, p.algorithm(o), nil)
			p.intField(o, "max_keys", 1, maxKeysCap, &l.MaxKeys)
		} else {
			for _, k := range localRateKeys {
				if o.has(k) {
					p.failf(field(path, k), "with scope \"global\" only allowed under rate_limit.service.failure_mode \"local\" (the limit is the service's)")
				}
			}
		}
	} else {
		if o.has("descriptor_key") {
			p.failf(field(path, "descriptor_key"), "only allowed with scope \"global\"")
		}
		l.Settings = p.rate(o, p.algorithm(o), nil)
		if t, ok := p.sub(o, "tier"); ok {
			l.Tier = p.tier(t, l.Algorithm, l.Settings)
		}
		p.intField(o, "max_keys", 1, maxKeysCap, &l.MaxKeys)
	}
	if !p.ok() {
		return nil
	}
	return &l
}

// algorithm reads a limit's algorithm (default token_bucket, the zero
// ratelimit.Algorithm).
func (p *parser) algorithm(o object) ratelimit.Algorithm {
	s, ok := p.str(o, "algorithm")
	if !ok {
		return ratelimit.TokenBucket
	}
	a, err := ratelimit.ParseAlgorithm(s)
	if err != nil {
		names := make([]string, 0, 5)
		for _, a := range ratelimit.Algorithms() {
			names = append(names, a.String())
		}
		p.failf(field(o.path, "algorithm"), "must be one of %s, got %s", strings.Join(names, ", "), quote(s))
	}
	return a
}

// hasBurst says whether an algorithm has a bucket capacity.
func hasBurst(a ratelimit.Algorithm) bool {
	return a == ratelimit.TokenBucket || a == ratelimit.GCRA || a == ratelimit.LeakyBucket
}

// rate reads requests, per, burst and max_delay of a limit or of a tier
// (base is the limit's Settings when reading a tier) and normalizes them.
// The keys a format allows are checked here (burst only for the bucket
// algorithms, max_delay only and required for leaky_bucket); the ranges
// and defaults are ratelimit.Settings.Normalize's.
func (p *parser) rate(o object, alg ratelimit.Algorithm, base *ratelimit.Settings) ratelimit.Settings {
	r := ratelimit.Settings{Algorithm: alg}
	var n int
	if p.count(o, "requests", false, &n) {
		r.Requests = int64(n)
	} else {
		p.required(o, "requests")
	}
	if !p.duration(o, "per", false, &r.Per) {
		p.required(o, "per")
	}
	if hasBurst(alg) {
		if p.count(o, "burst", false, &n) {
			r.Burst = int64(n)
		}
	} else if o.has("burst") {
		p.failf(field(o.path, "burst"), "not allowed with algorithm %q: only token_bucket, gcra and leaky_bucket have a burst", alg)
	}
	if alg == ratelimit.LeakyBucket {
		if !p.duration(o, "max_delay", false, &r.MaxDelay) {
			if base != nil {
				r.MaxDelay = base.MaxDelay
			} else {
				p.failf(field(o.path, "max_delay"), "required with algorithm \"leaky_bucket\"")
			}
		}
	} else if o.has("max_delay") {
		p.failf(field(o.path, "max_delay"), "only allowed with algorithm \"leaky_bucket\", not %q", alg)
	}
	if !p.ok() {
		return r
	}
	nr, err := r.Normalize()
	if p.settle(o.path, err) {
		r = nr
	}
	return r
}

func (p *parser) tier(o object, alg ratelimit.Algorithm, base ratelimit.Settings) *Tier {
	p.allow(o, "from", "default", "limits")
	t := &Tier{Limits: map[string]ratelimit.Settings{}}
	if s, ok := p.str(o, "from"); ok {
		kp, reason := parseKeyPart(s)
		if reason != "" {
			p.failf(field(o.path, "from"), "%s", reason)
		}
		t.From = kp
	} else {
		p.required(o, "from")
	}
	if s, ok := p.nonEmpty(o, "default", 256); ok {
		t.Default = s
	} else {
		p.required(o, "default")
	}
	lo, ok := p.sub(o, "limits")
	if !ok {
		p.required(o, "limits")
		return nil
	}
	if len(lo.v.keys) == 0 {
		p.failf(lo.path, "must not be empty")
	}
	for i, name := range lo.v.keys {
		ep := field(lo.path, name)
		switch {
		case name == "" || len(name) > 256 || hasControl(name):
			p.failf(ep, "tier name must be 1 to 256 bytes without control characters")
		case name == t.Default:
			p.failf(ep, "is the default tier, whose parameters are the limit's own")
		}
		eo, ok := p.asObject(lo.v.fields[i], ep)
		if !ok {
			return nil
		}
		p.allow(eo, "requests", "per", "burst", "max_delay")
		r := p.rate(eo, alg, &base)
		t.Limits[name] = r
		t.Names = append(t.Names, name)
	}
	if !p.ok() {
		return nil
	}
	return t
}

// circuitBreaker reads the circuit_breaker block. Its Settings are
// normalized by the policy, once the policy's timeout (which derives
// half_open_max_wait's default) is read.
func (p *parser) circuitBreaker(o object) *CircuitBreaker {
	p.allow(o, "key", "window", "minimum_calls", "failure_rate_threshold", "consecutive_failures",
		"slow_call_duration", "slow_call_rate_threshold", "open_duration", "max_open_duration",
		"open_backoff", "half_open_calls", "half_open_max_wait", "failure_on", "mode", "max_keys")
	cb := CircuitBreaker{FailureOn: DefaultFailureOn(), MaxKeys: DefaultMaxKeys}
	s := &cb.Settings
	cb.Key = p.keyParts(o, "key")
	if w, ok := p.sub(o, "window"); ok {
		p.window(w, s)
	}
	p.count(o, "minimum_calls", false, &s.MinimumCalls)
	p.number(o, "failure_rate_threshold", false, &s.FailureRateThreshold)
	p.count(o, "consecutive_failures", true, &s.ConsecutiveFailures)
	p.duration(o, "slow_call_duration", false, &s.SlowCallDuration)
	if p.number(o, "slow_call_rate_threshold", false, &s.SlowCallRateThreshold) && s.SlowCallDuration == 0 {
		p.failf(field(o.path, "slow_call_rate_threshold"), "requires slow_call_duration")
	}
	p.duration(o, "open_duration", false, &s.OpenDuration)
	p.duration(o, "max_open_duration", false, &s.MaxOpenDuration)
	p.number(o, "open_backoff", false, &s.OpenBackoff)
	p.count(o, "half_open_calls", false, &s.HalfOpenCalls)
	p.duration(o, "half_open_max_wait", false, &s.HalfOpenMaxWait)
	if f, ok := p.sub(o, "failure_on"); ok {
		p.allow(f, "statuses", "reset", "timeout", "connect_failure")
		if st, ok := p.statusList(f, "statuses"); ok {
			cb.FailureOn.Statuses = st
		}
		if b, ok := p.boolean(f, "reset"); ok {
			cb.FailureOn.Reset = b
		}
		if b, ok := p.boolean(f, "timeout"); ok {
			cb.FailureOn.Timeout = b
		}
		if b, ok := p.boolean(f, "connect_failure"); ok {
			cb.FailureOn.ConnectFailure = b
		}
		fo := cb.FailureOn
		if p.ok() && len(fo.Statuses) == 0 && !fo.Reset && !fo.Timeout && !fo.ConnectFailure && s.SlowCallDuration == 0 {
			p.failf(f.path, "counts no outcome as a failure and slow calls are not tracked: the breaker could never open")
		}
	}
	if m, ok := p.enum(o, "mode", "enforce", "observe", "forced_open", "disabled"); ok {
		s.Mode, _ = breaker.ParseMode(m)
	}
	p.intField(o, "max_keys", 1, maxKeysCap, &cb.MaxKeys)
	if !p.ok() {
		return nil
	}
	return &cb
}

// window reads circuit_breaker.window into s: the type decides whether
// size is a number of calls or a duration (a format rule); ranges and the
// default of buckets are breaker.Settings.Normalize's.
func (p *parser) window(o object, s *breaker.Settings) {
	p.allow(o, "type", "size", "buckets")
	t, ok := p.enum(o, "type", "count", "time")
	if !ok {
		p.required(o, "type")
		return
	}
	size, spath, ok := p.lookup(o, "size")
	if !ok {
		p.required(o, "size")
		return
	}
	switch t {
	case "count":
		s.Window = breaker.CountWindow
		if size.kind != jNumber {
			p.failf(spath, "must be an integer (a number of calls) for a count window, got %s", size.kind)
			return
		}
		if n, ok := p.intValue(size, spath, 1, math.MaxInt64); ok {
			s.WindowSize = int(n)
		}
		if o.has("buckets") {
			p.failf(field(o.path, "buckets"), "only allowed with type \"time\"")
		}
	case "time":
		s.Window = breaker.TimeWindow
		if size.kind != jString {
			p.failf(spath, "must be a duration string like \"60s\" for a time window, got %s", size.kind)
			return
		}
		if d, ok := p.durValue(size, spath, false); ok {
			s.WindowDuration = d
		}
		p.count(o, "buckets", false, &s.Buckets)
	}
}

func (p *parser) bulkhead(o object) *Bulkhead {
	p.allow(o, "key", "max_concurrent", "queue", "lease_ttl", "max_keys")
	b := Bulkhead{MaxKeys: DefaultMaxKeys}
	b.Key = p.keyParts(o, "key")
	if !p.count(o, "max_concurrent", false, &b.MaxConcurrent) {
		p.required(o, "max_concurrent")
	}
	if q, ok := p.sub(o, "queue"); ok {
		p.allow(q, "max_size", "max_wait")
		if !p.count(q, "max_size", false, &b.QueueSize) {
			p.required(q, "max_size")
		}
		if !p.duration(q, "max_wait", false, &b.MaxWait) {
			p.required(q, "max_wait")
		}
	}
	if p.duration(o, "lease_ttl", false, &b.LeaseTTL) && b.LeaseTTL < time.Second {
		// The plugin renews held leases from its tick, half a TTL before
		// they expire: a shorter lease could lapse between two ticks.
		p.failf(field(o.path, "lease_ttl"), "must be at least 1s, got %s", b.LeaseTTL)
	}
	p.intField(o, "max_keys", 1, maxKeysCap, &b.MaxKeys)
	if !p.ok() {
		return nil
	}
	n, err := b.Settings.Normalize()
	if !p.settle(o.path, err) {
		return nil
	}
	b.Settings = n
	return &b
}

func (p *parser) retry(o object) *Retry {
	p.allow(o, "max_retries", "retry_on", "retriable_status_codes", "per_try_timeout", "methods", "budget")
	r := defaultRetry()
	p.intField(o, "max_retries", 0, 10, &r.MaxRetries)
	if elems, path, ok := p.array(o, "retry_on"); ok {
		if len(elems) == 0 {
			p.failf(path, "must not be empty")
		}
		r.RetryOn = nil
		for i, e := range elems {
			ep := index(path, i)
			if !p.want(e, ep, jString, "a string") {
				break
			}
			if !slices.Contains(retryOnValues, e.text) {
				p.failf(ep, "must be one of %s, got %s", strings.Join(retryOnValues, ", "), quote(e.text))
				break
			}
			if slices.Contains(r.RetryOn, e.text) {
				p.failf(ep, "duplicate %s", quote(e.text))
				break
			}
			r.RetryOn = append(r.RetryOn, e.text)
		}
	}
	wantCodes := slices.Contains(r.RetryOn, "retriable-status-codes")
	if codes, ok := p.statusList(o, "retriable_status_codes"); ok {
		switch {
		case !wantCodes:
			p.failf(field(o.path, "retriable_status_codes"), "requires \"retriable-status-codes\" in retry_on")
		case len(codes) == 0:
			p.failf(field(o.path, "retriable_status_codes"), "must not be empty")
		}
		r.RetriableStatusCodes = codes
	} else if wantCodes {
		p.failf(field(o.path, "retriable_status_codes"), "required when retry_on has \"retriable-status-codes\"")
	}
	p.duration(o, "per_try_timeout", false, &r.PerTryTimeout)
	if ms, ok := p.methods(o, "methods"); ok {
		r.Methods = ms
	}
	if b, ok := p.sub(o, "budget"); ok {
		p.allow(b, "ratio", "min_per_second")
		var bud retry.Settings
		var ratio float64
		var minPS int
		if p.number(b, "ratio", true, &ratio) {
			bud.Ratio = &ratio
		}
		if p.count(b, "min_per_second", true, &minPS) {
			bud.MinPerSecond = &minPS
		}
		if p.ok() {
			n, err := bud.Normalize()
			if p.settle(b.path, err) {
				r.Budget = &n
			}
		}
	}
	if !p.ok() {
		return nil
	}
	return &r
}

func (p *parser) timeout(o object) *Timeout {
	p.allow(o, "request", "deadline", "adaptive")
	if p.ok() && len(o.v.keys) == 0 {
		p.failf(o.path, "must set at least one of request, deadline, adaptive")
		return nil
	}
	t := &Timeout{}
	p.duration(o, "request", false, &t.Request)
	if d, ok := p.sub(o, "deadline"); ok {
		p.allow(d, "propagate", "min_remaining", "max")
		dl := Deadline{}
		if b, ok := p.boolean(d, "propagate"); ok {
			dl.Propagate = b
		}
		p.duration(d, "min_remaining", true, &dl.MinRemaining)
		if !p.duration(d, "max", false, &dl.Max) {
			dl.Max = timeout.DefaultDeadlineMax
		}
		t.Deadline = &dl
	}
	if a, ok := p.sub(o, "adaptive"); ok {
		p.allow(a, "quantile", "multiplier", "extra", "min", "max", "min_samples")
		var ad timeout.Adaptive
		p.number(a, "quantile", false, &ad.Quantile)
		p.number(a, "multiplier", false, &ad.Multiplier)
		p.duration(a, "extra", true, &ad.Extra)
		if !p.duration(a, "min", false, &ad.Min) {
			p.required(a, "min")
		}
		if !p.duration(a, "max", false, &ad.Max) {
			p.required(a, "max")
		}
		p.count(a, "min_samples", false, &ad.MinSamples)
		if p.ok() && t.Request == 0 {
			p.failf(a.path, "requires timeout.request (it applies until min_samples are seen)")
		}
		if p.ok() {
			n, err := ad.Normalize()
			if p.settle(a.path, err) {
				t.Adaptive = &n
			}
		}
	}
	if !p.ok() {
		return nil
	}
	return t
}

// reservedResponseHeaders are set by the filter or by Envoy; a fallback
// cannot set them.
func reservedResponseHeader(name string) bool {
	return strings.HasPrefix(name, "x-breakwater-") || name == "content-length" || name == "transfer-encoding"
}

func (p *parser) fallback(o object) *Fallback {
	p.allow(o, "on", "status", "headers", "body", "stale")
	f := &Fallback{}
	elems, path, ok := p.array(o, "on")
	if !ok {
		p.required(o, "on")
		return nil
	}
	if len(elems) == 0 {
		p.failf(path, "must not be empty")
	}
	for i, e := range elems {
		ep := index(path, i)
		if !p.want(e, ep, jString, "a string") {
			return nil
		}
		r := Reason(e.text)
		if !slices.Contains(Reasons, r) {
			p.failf(ep, "must be one of rate_limited, circuit_open, bulkhead_full, deadline_exceeded, fault_abort, upstream_failure, got %s", quote(e.text))
			return nil
		}
		if slices.Contains(f.On, r) {
			p.failf(ep, "duplicate reason %s", r)
			return nil
		}
		f.On = append(f.On, r)
	}
	p.status(o, "status", &f.Status)
	if h, ok := p.sub(o, "headers"); ok {
		if len(h.v.keys) > maxListLen {
			p.failf(h.path, "at most %d headers, got %d", maxListLen, len(h.v.keys))
			return nil
		}
		for i, name := range h.v.keys {
			hp := field(h.path, name)
			n, ok := p.headerName(hp, name)
			if !ok {
				return nil
			}
			if reservedResponseHeader(n) {
				p.failf(hp, "is set by the filter or by Envoy and cannot be configured")
				return nil
			}
			if slices.ContainsFunc(f.Headers, func(x Header) bool { return x.Name == n }) {
				p.failf(hp, "duplicate header (names are case-insensitive)")
				return nil
			}
			v := h.v.fields[i]
			if !p.want(v, hp, jString, "a string") {
				return nil
			}
			if !headerValueOK(v.text) {
				p.failf(hp, "must not contain CR, LF or NUL")
				return nil
			}
			f.Headers = append(f.Headers, Header{Name: n, Value: v.text})
		}
	}
	if s, ok := p.str(o, "body"); ok {
		f.Body = s
	}
	if so, ok := p.sub(o, "stale"); ok {
		p.allow(so, "max_age", "max_body_bytes", "key")
		st := defaultStale()
		st.Key = p.keyParts(so, "key")
		if !p.duration(so, "max_age", false, &st.MaxAge) {
			p.required(so, "max_age")
		}
		p.intField(so, "max_body_bytes", 1, 16<<20, &st.MaxBodyBytes)
		f.Stale = &st
	}
	if p.ok() && !o.has("status") && !o.has("headers") && !o.has("body") && !o.has("stale") {
		p.failf(o.path, "must set at least one of status, headers, body, stale")
	}
	if !p.ok() {
		return nil
	}
	return f
}

func (p *parser) fault(o object) *Fault {
	p.allow(o, "abort", "delay", "only_with_header")
	f := &Fault{}
	if a, ok := p.sub(o, "abort"); ok {
		p.allow(a, "percent", "status")
		f.HasAbort = true
		if !p.number(a, "percent", true, &f.AbortPercent) {
			p.required(a, "percent")
		}
		p.count(a, "status", false, &f.AbortStatus)
	}
	if d, ok := p.sub(o, "delay"); ok {
		p.allow(d, "percent", "duration")
		f.HasDelay = true
		if !p.number(d, "percent", true, &f.DelayPercent) {
			p.required(d, "percent")
		}
		if !p.duration(d, "duration", false, &f.Delay) {
			p.required(d, "duration")
		}
	}
	if s, ok := p.str(o, "only_with_header"); ok {
		f.OnlyWithHeader, _ = p.headerName(field(o.path, "only_with_header"), s)
	}
	if p.ok() && !f.HasAbort && !f.HasDelay {
		p.failf(o.path, "must set abort, delay or both")
	}
	if !p.ok() {
		return nil
	}
	n, err := f.Settings.Normalize()
	if !p.settle(o.path, err) {
		return nil
	}
	f.Settings = n
	return f
}
