package config

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/breaker"
	"github.com/breakwater/breakwater/patterns/bulkhead"
	"github.com/breakwater/breakwater/patterns/deadletter"
	"github.com/breakwater/breakwater/patterns/fault"
	"github.com/breakwater/breakwater/patterns/ratelimit"
	"github.com/breakwater/breakwater/patterns/retry"
	"github.com/breakwater/breakwater/patterns/timeout"
)

func mustParse(t *testing.T, in string) *Config {
	t.Helper()
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatalf("Parse: %v\ninput: %s", err, in)
	}
	return c
}

func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got: %+v\nwant: %+v", what, got, want)
	}
}

func TestDefaultsMinimal(t *testing.T) {
	c := mustParse(t, `{"policies":[{"name":"p"}]}`)
	check(t, "config", *c, Config{Namespace: "breakwater", Policies: []*Policy{{Name: "p"}}, MaxSharedBytes: DefaultMaxSharedBytes})
	c = mustParse(t, `{"namespace":"edge-2","policies":[{"name":"a_b-1","match":{}}],"max_shared_bytes":1048576}`)
	check(t, "config", *c, Config{Namespace: "edge-2", Policies: []*Policy{{Name: "a_b-1"}}, MaxSharedBytes: 1 << 20})
}

func TestDefaultsRateLimit(t *testing.T) {
	c := mustParse(t, rl(`{"name":"a","requests":100,"per":"1m"}`))
	check(t, "rate_limit", *c.Policies[0].RateLimit, RateLimit{
		Limits: []*Limit{{
			Name: "a", Scope: ScopeLocal,
			Settings: ratelimit.Settings{Algorithm: ratelimit.TokenBucket, Requests: 100, Per: time.Minute, Burst: 100},
			MaxKeys:  10000,
		}},
		Headers: true,
		Status:  429,
	})

	// Burst defaults to requests (the window algorithms' capacity is requests).
	for alg, a := range map[string]ratelimit.Algorithm{"gcra": ratelimit.GCRA, "fixed_window": ratelimit.FixedWindow, "sliding_window": ratelimit.SlidingWindow} {
		c := mustParse(t, rl(`{"name":"a","algorithm":"`+alg+`","requests":7,"per":"1s"}`))
		check(t, alg+" rate", c.Policies[0].RateLimit.Limits[0].Settings, ratelimit.Settings{Algorithm: a, Requests: 7, Per: time.Second, Burst: 7})
	}
	c = mustParse(t, rl(`{"name":"a","algorithm":"leaky_bucket","requests":50,"per":"1s","max_delay":"200ms"}`))
	check(t, "leaky rate", c.Policies[0].RateLimit.Limits[0].Settings, ratelimit.Settings{Algorithm: ratelimit.LeakyBucket, Requests: 50, Per: time.Second, Burst: 50, MaxDelay: 200 * time.Millisecond})

	// headers false, custom status.
	c = mustParse(t, rl(`{"name":"a","requests":1,"per":"1s","max_keys":5}`, `"headers":false`, `"status":503`))
	r := c.Policies[0].RateLimit
	check(t, "headers", r.Headers, false)
	check(t, "status", r.Status, 503)
	check(t, "max_keys", r.Limits[0].MaxKeys, 5)
}

func TestDefaultsGlobal(t *testing.T) {
	c := mustParse(t, rl(`{"name":"mesh","scope":"global","key":["header:X-User-Id"],"descriptor_key":"user"}`, `"service":{"cluster":"rls","domain":"bw"}`))
	r := c.Policies[0].RateLimit
	check(t, "service", *r.Service, RateLimitService{Cluster: "rls", Authority: "rls", Domain: "bw", Timeout: 25 * time.Millisecond, FailureMode: FailOpen})
	check(t, "limit", *r.Limits[0], Limit{
		Name: "mesh", Key: []KeyPart{{KeyHeader, "x-user-id"}}, Scope: ScopeGlobal,
		MaxKeys: 10000, DescriptorKey: "user",
	})

	c = mustParse(t, rl(`{"name":"mesh","scope":"global","key":["path"],"descriptor_key":"p","requests":5,"per":"1s","max_keys":7},{"name":"loc","requests":1,"per":"1s"}`,
		`"service":{"cluster":"rls","authority":"rls.svc","domain":"bw","timeout":"40ms","failure_mode":"local"}`))
	r = c.Policies[0].RateLimit
	check(t, "service", *r.Service, RateLimitService{Cluster: "rls", Authority: "rls.svc", Domain: "bw", Timeout: 40 * time.Millisecond, FailureMode: FailLocal})
	check(t, "limit", *r.Limits[0], Limit{
		Name: "mesh", Key: []KeyPart{{KeyPath, ""}}, Scope: ScopeGlobal,
		Settings: ratelimit.Settings{Requests: 5, Per: time.Second, Burst: 5}, MaxKeys: 7, DescriptorKey: "p",
	})
}

func TestTier(t *testing.T) {
	c := mustParse(t, rl(`{"name":"a","algorithm":"leaky_bucket","requests":10,"per":"1s","burst":3,"max_delay":"1s",
		"tier":{"from":"header:X-Tier","default":"basic","limits":{"zeta":{"requests":100,"per":"1s"},"alpha":{"requests":50,"per":"2s","burst":9,"max_delay":"5s"}}}}`))
	l := c.Policies[0].RateLimit.Limits[0]
	lb := ratelimit.LeakyBucket
	check(t, "tier", *l.Tier, Tier{
		From:    KeyPart{KeyHeader, "x-tier"},
		Default: "basic",
		Limits: map[string]ratelimit.Settings{
			"zeta":  {Algorithm: lb, Requests: 100, Per: time.Second, Burst: 100, MaxDelay: time.Second},
			"alpha": {Algorithm: lb, Requests: 50, Per: 2 * time.Second, Burst: 9, MaxDelay: 5 * time.Second},
		},
		Names: []string{"zeta", "alpha"},
	})
	name, r := l.RateFor("alpha")
	check(t, "RateFor alpha", []any{name, r}, []any{"alpha", l.Tier.Limits["alpha"]})
	name, r = l.RateFor("unknown")
	check(t, "RateFor unknown", []any{name, r}, []any{"basic", ratelimit.Settings{Algorithm: lb, Requests: 10, Per: time.Second, Burst: 3, MaxDelay: time.Second}})
	name, _ = l.RateFor("")
	check(t, "RateFor missing", name, "basic")

	c = mustParse(t, rl(`{"name":"a","algorithm":"sliding_window","requests":10,"per":"1s"}`))
	l = c.Policies[0].RateLimit.Limits[0]
	name, r = l.RateFor("x")
	check(t, "no tier", []any{name, r, r.Burst}, []any{"", l.Settings, int64(10)})
}

// cbDefaults is the circuit breaker of "circuit_breaker":{}.
func cbDefaults() CircuitBreaker {
	return CircuitBreaker{
		Settings: breaker.Settings{
			Window: breaker.CountWindow, WindowSize: 100, MinimumCalls: 20, FailureRateThreshold: 0.5,
			SlowCallRateThreshold: 1.0, OpenDuration: 30 * time.Second, MaxOpenDuration: 5 * time.Minute,
			OpenBackoff: 1.0, HalfOpenCalls: 1, HalfOpenMaxWait: time.Minute, Mode: breaker.Enforce,
		},
		FailureOn: FailureOn{Statuses: []int{500, 502, 503, 504}, Reset: true, Timeout: true, ConnectFailure: true},
		MaxKeys:   10000,
	}
}

func TestDefaultsCircuitBreaker(t *testing.T) {
	want := cbDefaults()
	c := mustParse(t, pol(`"circuit_breaker":{}`))
	check(t, "circuit_breaker {}", *c.Policies[0].CircuitBreaker, want)

	c = mustParse(t, pol(`"circuit_breaker":{"key":["authority"],"window":{"type":"time","size":"60s"},"failure_on":{"statuses":[502]},"mode":"observe"}`))
	want2 := want
	want2.Key = []KeyPart{{KeyAuthority, ""}}
	want2.Window, want2.WindowSize, want2.WindowDuration, want2.Buckets = breaker.TimeWindow, 0, time.Minute, 10
	want2.FailureOn = FailureOn{Statuses: []int{502}, Reset: true, Timeout: true, ConnectFailure: true}
	want2.Mode = breaker.Observe
	check(t, "time window", *c.Policies[0].CircuitBreaker, want2)

	c = mustParse(t, pol(`"circuit_breaker":{"window":{"type":"count","size":10},"minimum_calls":10,"failure_on":{"reset":false},"consecutive_failures":5,
		"slow_call_duration":"1s","slow_call_rate_threshold":0.8,"open_duration":"10s","max_open_duration":"10s","open_backoff":2,"half_open_calls":3,"half_open_max_wait":"2s","max_keys":50}`))
	cb := c.Policies[0].CircuitBreaker
	check(t, "count window", []any{cb.Window, cb.WindowSize}, []any{breaker.CountWindow, 10})
	check(t, "tuned", []any{cb.MinimumCalls, cb.ConsecutiveFailures, cb.SlowCallDuration, cb.SlowCallRateThreshold, cb.OpenDuration, cb.MaxOpenDuration, cb.OpenBackoff, cb.HalfOpenCalls, cb.HalfOpenMaxWait, cb.MaxKeys},
		[]any{10, 5, time.Second, 0.8, 10 * time.Second, 10 * time.Second, 2.0, 3, 2 * time.Second, 50})
	check(t, "failure_on", cb.FailureOn, FailureOn{Statuses: []int{500, 502, 503, 504}, Reset: false, Timeout: true, ConnectFailure: true})
	if !cb.FailureOn.IsFailureStatus(503) || cb.FailureOn.IsFailureStatus(501) {
		t.Fatal("IsFailureStatus")
	}

	// Empty statuses are allowed while something else counts.
	c = mustParse(t, pol(`"circuit_breaker":{"failure_on":{"statuses":[]}}`))
	check(t, "no statuses", c.Policies[0].CircuitBreaker.FailureOn, FailureOn{Statuses: []int{}, Reset: true, Timeout: true, ConnectFailure: true})
	// Nothing counts, but slow calls are tracked: fine.
	mustParse(t, pol(`"circuit_breaker":{"slow_call_duration":"1s","failure_on":{"statuses":[],"reset":false,"timeout":false,"connect_failure":false}}`))
}

// TestDerivedDefaults: a default never makes an explicit value invalid; it
// derives from it (the list is in docs/configuration.md and in the
// patterns' Settings).
func TestDerivedDefaults(t *testing.T) {
	cb := func(fields string, extra ...string) *CircuitBreaker {
		t.Helper()
		f := `"circuit_breaker":{` + fields + `}`
		for _, e := range extra {
			f += "," + e
		}
		return mustParse(t, pol(f)).Policies[0].CircuitBreaker
	}
	// max_open_duration = max(5m, open_duration).
	b := cb(`"open_duration":"1h"`)
	check(t, "open 1h alone", []any{b.OpenDuration, b.MaxOpenDuration}, []any{time.Hour, time.Hour})
	// open_duration = min(30s, max_open_duration).
	b = cb(`"max_open_duration":"10s"`)
	check(t, "max open 10s alone", []any{b.OpenDuration, b.MaxOpenDuration}, []any{10 * time.Second, 10 * time.Second})
	// minimum_calls = min(20, count window size).
	b = cb(`"window":{"type":"count","size":10}`)
	check(t, "count window of 10 alone", []any{b.WindowSize, b.MinimumCalls}, []any{10, 10})
	// count window size = max(100, minimum_calls), at most 10000.
	b = cb(`"minimum_calls":500`)
	check(t, "minimum_calls 500 alone", []any{b.WindowSize, b.MinimumCalls}, []any{500, 500})
	// buckets = min(10, window / 1ms).
	b = cb(`"window":{"type":"time","size":"5ms"}`)
	check(t, "time window of 5ms", b.Buckets, 5)
	// half_open_max_wait = max(open_duration, request timeout or 60s).
	check(t, "half_open_max_wait, no timeout", cb(``).HalfOpenMaxWait, time.Minute)
	check(t, "half_open_max_wait, long open", cb(`"open_duration":"2m"`).HalfOpenMaxWait, 2*time.Minute)
	check(t, "half_open_max_wait, request 90s", cb(``, `"timeout":{"request":"90s"}`).HalfOpenMaxWait, 90*time.Second)
	check(t, "half_open_max_wait, request 1s", cb(``, `"timeout":{"request":"1s"}`).HalfOpenMaxWait, 30*time.Second)
	check(t, "half_open_max_wait, adaptive max", cb(``, `"timeout":{"request":"1s","adaptive":{"min":"1ms","max":"3m"}}`).HalfOpenMaxWait, 3*time.Minute)
	check(t, "half_open_max_wait explicit", cb(`"half_open_max_wait":"1s"`).HalfOpenMaxWait, time.Second)
	// adaptive min defaults... min is required; max below it names both.
	// Retry budget: each field defaults on its own.
	bud := mustParse(t, pol(`"retry":{"budget":{"min_per_second":0}}`)).Policies[0].Retry.Budget
	r, m := bud.Values()
	check(t, "budget min 0", []any{r, m}, []any{0.2, 0})
}

func TestDefaultsOtherBlocks(t *testing.T) {
	c := mustParse(t, pol(`"bulkhead":{"max_concurrent":5}`))
	check(t, "bulkhead", *c.Policies[0].Bulkhead, Bulkhead{Settings: bulkhead.Settings{MaxConcurrent: 5, LeaseTTL: time.Minute}, MaxKeys: 10000})
	c = mustParse(t, pol(`"bulkhead":{"key":["remote_address"],"max_concurrent":5,"queue":{"max_size":3,"max_wait":"50ms"},"lease_ttl":"2s","max_keys":9}`))
	check(t, "bulkhead", *c.Policies[0].Bulkhead, Bulkhead{Key: []KeyPart{{KeyRemoteAddress, ""}},
		Settings: bulkhead.Settings{MaxConcurrent: 5, QueueSize: 3, MaxWait: 50 * time.Millisecond, LeaseTTL: 2 * time.Second, WaiterTTL: 50 * time.Millisecond}, MaxKeys: 9})

	c = mustParse(t, pol(`"retry":{}`))
	check(t, "retry", *c.Policies[0].Retry, Retry{MaxRetries: 1, RetryOn: []string{"5xx", "reset", "connect-failure"}, Methods: []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}})
	c = mustParse(t, pol(`"retry":{"max_retries":0,"methods":["post","Patch"],"budget":{}}`))
	b := retry.Of(0.2, 5)
	check(t, "retry", *c.Policies[0].Retry, Retry{RetryOn: []string{"5xx", "reset", "connect-failure"}, Methods: []string{"POST", "PATCH"}, Budget: &b})
	c = mustParse(t, pol(`"retry":{"budget":{"ratio":0}}`))
	check(t, "budget", *c.Policies[0].Retry.Budget, retry.Of(0, 5))

	c = mustParse(t, pol(`"timeout":{"deadline":{}}`))
	check(t, "timeout", *c.Policies[0].Timeout, Timeout{Deadline: &Deadline{Max: 15 * time.Second}})
	c = mustParse(t, pol(`"timeout":{"request":"1s","deadline":{"min_remaining":"0s"},"adaptive":{"min":"10ms","max":"1s"}}`))
	ad, _ := timeout.Adaptive{Min: 10 * time.Millisecond, Max: time.Second}.Normalize()
	check(t, "timeout", *c.Policies[0].Timeout, Timeout{Request: time.Second, Deadline: &Deadline{Max: 15 * time.Second}, Adaptive: &ad})
	check(t, "adaptive defaults", []any{ad.Quantile, ad.Multiplier, ad.MinSamples}, []any{0.95, 1.0, 20})

	c = mustParse(t, pol(`"circuit_breaker":{},"fallback":{"on":["upstream_failure"],"body":"x"}`))
	check(t, "fallback", *c.Policies[0].Fallback, Fallback{On: []Reason{ReasonUpstreamFailure}, Body: "x"})
	c = mustParse(t, pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{"X-B":"1","A":"2"},"stale":{"max_age":"1m"}}`))
	check(t, "fallback", *c.Policies[0].Fallback, Fallback{On: []Reason{ReasonCircuitOpen},
		Headers: []Header{{"x-b", "1"}, {"a", "2"}}, Stale: &Stale{MaxAge: time.Minute, MaxBodyBytes: 65536}})

	c = mustParse(t, pol(`"fault":{"abort":{"percent":0}}`))
	check(t, "fault", *c.Policies[0].Fault, Fault{Settings: fault.Settings{AbortStatus: 503}, HasAbort: true})
	c = mustParse(t, pol(`"fault":{"delay":{"percent":100,"duration":"1s"},"only_with_header":"X-Fault"}`))
	check(t, "fault", *c.Policies[0].Fault, Fault{Settings: fault.Settings{AbortStatus: 503, DelayPercent: 100, Delay: time.Second}, HasDelay: true, OnlyWithHeader: "x-fault"})
}

func TestMatchParse(t *testing.T) {
	c := mustParse(t, pol(`"match":{"path_regex":"/a/[0-9]+","methods":["get"],"authority":"API.Example.com","headers":[{"name":"X-T","exact":"A"},{"name":"x-p","prefix":"v"},{"name":"x-q","present":true}]}`))
	m := c.Policies[0].Match
	check(t, "regex", m.PathRegex.String(), `^(?:/a/[0-9]+)$`)
	check(t, "methods", m.Methods, []string{"GET"})
	check(t, "authority", m.Authority, "api.example.com")
	check(t, "headers", m.Headers, []HeaderMatch{{"x-t", HeaderExact, "A"}, {"x-p", HeaderPrefix, "v"}, {"x-q", HeaderPresent, ""}})
	c = mustParse(t, pol(`"match":{"path_prefix":"/a"}`))
	check(t, "prefix", *c.Policies[0].Match, Match{PathPrefix: "/a"})
	c = mustParse(t, pol(`"match":{"path_exact":"/a"}`))
	check(t, "exact", *c.Policies[0].Match, Match{PathExact: "/a"})
}

func TestRejectStatus(t *testing.T) {
	for r, want := range map[Reason]int{ReasonRateLimited: 429, ReasonCircuitOpen: 503, ReasonBulkheadFull: 503,
		ReasonDeadlineExceeded: 504, ReasonFaultAbort: 503, ReasonUpstreamFailure: 503} {
		check(t, "DefaultStatus "+string(r), DefaultStatus(r), want)
		check(t, "bare policy "+string(r), (&Policy{}).RejectStatus(r), want)
	}
	c := mustParse(t, pol(`"rate_limit":{"limits":[{"name":"a","requests":1,"per":"1s"}],"status":503},"circuit_breaker":{},
		"fault":{"abort":{"percent":1,"status":418}},"fallback":{"on":["circuit_open"],"status":200}`))
	p := c.Policies[0]
	check(t, "rate_limited", p.RejectStatus(ReasonRateLimited), 503)
	check(t, "fault_abort", p.RejectStatus(ReasonFaultAbort), 418)
	check(t, "circuit_open", p.RejectStatus(ReasonCircuitOpen), 200)
	check(t, "upstream_failure", p.RejectStatus(ReasonUpstreamFailure), 503)
	check(t, "covers", []bool{p.Fallback.Covers(ReasonCircuitOpen), p.Fallback.Covers(ReasonRateLimited), (*Fallback)(nil).Covers(ReasonCircuitOpen)}, []bool{true, false, false})
	// A covering fallback without a status keeps the reason's status.
	c = mustParse(t, pol(`"rate_limit":{"limits":[{"name":"a","requests":1,"per":"1s"}],"status":430},"fallback":{"on":["rate_limited"],"body":"b"}`))
	check(t, "fallback without status", c.Policies[0].RejectStatus(ReasonRateLimited), 430)
}

// TestFullExample parses an example of every block (testdata/full.json, the
// contract's snippets assembled into one policy)
// and checks every value.
func TestFullExample(t *testing.T) {
	data, err := os.ReadFile("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "namespace", c.Namespace, "breakwater")
	if len(c.Policies) != 1 {
		t.Fatalf("%d policies", len(c.Policies))
	}
	p := c.Policies[0]
	check(t, "name", p.Name, "orders")
	check(t, "match", *p.Match, Match{PathPrefix: "/orders", Methods: []string{"GET", "POST"}, Authority: "orders.example.com",
		Headers: []HeaderMatch{{"x-tenant", HeaderExact, "acme"}}})
	tb, sw, fw, lb := ratelimit.TokenBucket, ratelimit.SlidingWindow, ratelimit.FixedWindow, ratelimit.LeakyBucket
	check(t, "rate_limit", *p.RateLimit, RateLimit{
		Limits: []*Limit{
			{Name: "per-user", Key: []KeyPart{{KeyHeader, "x-user-id"}}, Scope: ScopeLocal,
				Settings: ratelimit.Settings{Algorithm: tb, Requests: 100, Per: time.Minute, Burst: 20},
				Tier: &Tier{From: KeyPart{KeyHeader, "x-user-tier"}, Default: "basic",
					Limits: map[string]ratelimit.Settings{"premium": {Algorithm: tb, Requests: 1000, Per: time.Minute, Burst: 100}}, Names: []string{"premium"}},
				MaxKeys: 10000},
			{Name: "per-endpoint", Key: []KeyPart{{KeyPath, ""}}, Scope: ScopeLocal,
				Settings: ratelimit.Settings{Algorithm: sw, Requests: 1000, Per: time.Minute, Burst: 1000}, MaxKeys: 10000},
			{Name: "global", Scope: ScopeLocal, Settings: ratelimit.Settings{Algorithm: fw, Requests: 10000, Per: time.Minute, Burst: 10000}, MaxKeys: 10000},
			{Name: "smooth", Scope: ScopeLocal, Settings: ratelimit.Settings{Algorithm: lb, Requests: 50, Per: time.Second, Burst: 50, MaxDelay: 200 * time.Millisecond}, MaxKeys: 10000},
			{Name: "mesh", Key: []KeyPart{{KeyHeader, "x-user-id"}}, Scope: ScopeGlobal, MaxKeys: 10000, DescriptorKey: "user"},
		},
		Service: &RateLimitService{Cluster: "ratelimit", Authority: "ratelimit", Domain: "breakwater", Timeout: 25 * time.Millisecond, FailureMode: FailOpen},
		Headers: true,
		Status:  429,
	})
	check(t, "circuit_breaker", *p.CircuitBreaker, CircuitBreaker{
		Settings: breaker.Settings{
			Window: breaker.TimeWindow, WindowDuration: time.Minute, Buckets: 10,
			MinimumCalls: 20, FailureRateThreshold: 0.5, ConsecutiveFailures: 0,
			SlowCallDuration: 2 * time.Second, SlowCallRateThreshold: 1.0,
			OpenDuration: 30 * time.Second, MaxOpenDuration: 5 * time.Minute, OpenBackoff: 2.0, HalfOpenCalls: 1,
			HalfOpenMaxWait: 30 * time.Second, CallTimeout: 5 * time.Second, Mode: breaker.Enforce,
		},
		FailureOn: FailureOn{Statuses: []int{500, 502, 503, 504}, Reset: true, Timeout: true, ConnectFailure: true},
		MaxKeys:   10000,
	})
	check(t, "bulkhead", *p.Bulkhead, Bulkhead{Settings: bulkhead.Settings{MaxConcurrent: 20, QueueSize: 50, MaxWait: 100 * time.Millisecond,
		LeaseTTL: time.Minute, WaiterTTL: 100 * time.Millisecond}, MaxKeys: 10000})
	bud := retry.Of(0.2, 5)
	check(t, "retry", *p.Retry, Retry{MaxRetries: 2,
		RetryOn:              []string{"5xx", "gateway-error", "reset", "connect-failure", "retriable-status-codes"},
		RetriableStatusCodes: []int{503}, PerTryTimeout: 500 * time.Millisecond,
		Methods: []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}, Budget: &bud})
	ad, _ := timeout.Adaptive{Quantile: 0.95, Multiplier: 1.2, Extra: 20 * time.Millisecond, Min: 50 * time.Millisecond, Max: 5 * time.Second, MinSamples: 20}.Normalize()
	check(t, "timeout", *p.Timeout, Timeout{Request: 2 * time.Second,
		Deadline: &Deadline{Propagate: true, MinRemaining: 10 * time.Millisecond, Max: 15 * time.Second},
		Adaptive: &ad})
	check(t, "fallback", *p.Fallback, Fallback{
		On:     []Reason{ReasonCircuitOpen, ReasonRateLimited, ReasonBulkheadFull, ReasonDeadlineExceeded, ReasonUpstreamFailure},
		Status: 503, Headers: []Header{{"content-type", "application/json"}}, Body: `{"degraded":true}`,
		Stale: &Stale{MaxAge: 5 * time.Minute, MaxBodyBytes: 65536}})
	check(t, "fault", *p.Fault, Fault{Settings: fault.Settings{AbortPercent: 5, AbortStatus: 503, DelayPercent: 10, Delay: 200 * time.Millisecond},
		HasAbort: true, HasDelay: true, OnlyWithHeader: "x-breakwater-fault"})
}

func TestDeadLetter(t *testing.T) {
	c := mustParse(t, pol(`"dead_letter":{"cluster":"dlq"}`))
	check(t, "defaults", *c.Policies[0].DeadLetter, deadletter.Settings{Cluster: "dlq", On: []string{"upstream_failure"},
		Methods: []string{"POST", "PUT", "PATCH", "DELETE"}, MaxBodyBytes: 65536,
		RedactHeaders: []string{"authorization", "cookie"}, Timeout: 50 * time.Millisecond})
	c = mustParse(t, pol(`"circuit_breaker":{},"bulkhead":{"max_concurrent":1},"timeout":{"deadline":{}},
		"dead_letter":{"cluster":"dlq","on":["circuit_open","bulkhead_full","deadline_exceeded","upstream_failure"],
		"methods":["post"],"max_body_bytes":10,"redact_headers":[],"timeout":"1s"}`))
	check(t, "explicit", *c.Policies[0].DeadLetter, deadletter.Settings{Cluster: "dlq",
		On: []string{"circuit_open", "bulkhead_full", "deadline_exceeded", "upstream_failure"}, Methods: []string{"POST"},
		MaxBodyBytes: 10, RedactHeaders: []string{}, Timeout: time.Second})
}
