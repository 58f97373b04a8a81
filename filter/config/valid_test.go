package config

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/deadletter"
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
	check(t, "config", *c, Config{Namespace: "breakwater", Policies: []*Policy{{Name: "p"}}})
	c = mustParse(t, `{"namespace":"edge-2","policies":[{"name":"a_b-1","match":{}}]}`)
	check(t, "config", *c, Config{Namespace: "edge-2", Policies: []*Policy{{Name: "a_b-1"}}})
}

func TestDefaultsRateLimit(t *testing.T) {
	c := mustParse(t, rl(`{"name":"a","requests":100,"per":"1m"}`))
	check(t, "rate_limit", *c.Policies[0].RateLimit, RateLimit{
		Limits: []*Limit{{
			Name: "a", Scope: ScopeLocal, Algorithm: TokenBucket,
			Rate:    Rate{Requests: 100, Per: time.Minute, Burst: 100},
			MaxKeys: 10000,
		}},
		Headers: true,
		Status:  429,
	})

	// Burst default per algorithm; window algorithms have none.
	for alg, burst := range map[string]int64{"gcra": 7, "fixed_window": 0, "sliding_window": 0} {
		c := mustParse(t, rl(`{"name":"a","algorithm":"`+alg+`","requests":7,"per":"1s"}`))
		check(t, alg+" rate", c.Policies[0].RateLimit.Limits[0].Rate, Rate{Requests: 7, Per: time.Second, Burst: burst})
	}
	c = mustParse(t, rl(`{"name":"a","algorithm":"leaky_bucket","requests":50,"per":"1s","max_delay":"200ms"}`))
	check(t, "leaky rate", c.Policies[0].RateLimit.Limits[0].Rate, Rate{Requests: 50, Per: time.Second, Burst: 50, MaxDelay: 200 * time.Millisecond})

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
		Name: "mesh", Key: []KeyPart{{KeyPath, ""}}, Scope: ScopeGlobal, Algorithm: TokenBucket,
		Rate: Rate{Requests: 5, Per: time.Second, Burst: 5}, MaxKeys: 7, DescriptorKey: "p",
	})
}

func TestTier(t *testing.T) {
	c := mustParse(t, rl(`{"name":"a","algorithm":"leaky_bucket","requests":10,"per":"1s","burst":3,"max_delay":"1s",
		"tier":{"from":"header:X-Tier","default":"basic","limits":{"zeta":{"requests":100,"per":"1s"},"alpha":{"requests":50,"per":"2s","burst":9,"max_delay":"5s"}}}}`))
	l := c.Policies[0].RateLimit.Limits[0]
	check(t, "tier", *l.Tier, Tier{
		From:    KeyPart{KeyHeader, "x-tier"},
		Default: "basic",
		Limits: map[string]Rate{
			"zeta":  {Requests: 100, Per: time.Second, Burst: 100, MaxDelay: time.Second},
			"alpha": {Requests: 50, Per: 2 * time.Second, Burst: 9, MaxDelay: 5 * time.Second},
		},
		Names: []string{"zeta", "alpha"},
	})
	name, r := l.RateFor("alpha")
	check(t, "RateFor alpha", []any{name, r}, []any{"alpha", l.Tier.Limits["alpha"]})
	name, r = l.RateFor("unknown")
	check(t, "RateFor unknown", []any{name, r}, []any{"basic", Rate{Requests: 10, Per: time.Second, Burst: 3, MaxDelay: time.Second}})
	name, r = l.RateFor("")
	check(t, "RateFor missing", name, "basic")
	check(t, "capacity", l.Capacity(r), int64(3))

	c = mustParse(t, rl(`{"name":"a","algorithm":"sliding_window","requests":10,"per":"1s"}`))
	l = c.Policies[0].RateLimit.Limits[0]
	name, r = l.RateFor("x")
	check(t, "no tier", []any{name, r, l.Capacity(r)}, []any{"", l.Rate, int64(10)})
}

func TestDefaultsCircuitBreaker(t *testing.T) {
	want := CircuitBreaker{
		Window:                Window{Type: WindowCount, Size: 100},
		MinimumCalls:          20,
		FailureRateThreshold:  0.5,
		SlowCallRateThreshold: 1.0,
		OpenDuration:          30 * time.Second,
		MaxOpenDuration:       5 * time.Minute,
		OpenBackoff:           1.0,
		HalfOpenCalls:         1,
		FailureOn:             FailureOn{Statuses: []int{500, 502, 503, 504}, Reset: true, Timeout: true, ConnectFailure: true},
		Mode:                  ModeEnforce,
		MaxKeys:               10000,
	}
	c := mustParse(t, pol(`"circuit_breaker":{}`))
	check(t, "circuit_breaker {}", *c.Policies[0].CircuitBreaker, want)

	c = mustParse(t, pol(`"circuit_breaker":{"key":["authority"],"window":{"type":"time","size":"60s"},"failure_on":{"statuses":[502]},"mode":"observe"}`))
	want2 := want
	want2.Key = []KeyPart{{KeyAuthority, ""}}
	want2.Window = Window{Type: WindowTime, Duration: time.Minute, Buckets: 10}
	want2.FailureOn = FailureOn{Statuses: []int{502}, Reset: true, Timeout: true, ConnectFailure: true}
	want2.Mode = ModeObserve
	check(t, "time window", *c.Policies[0].CircuitBreaker, want2)

	c = mustParse(t, pol(`"circuit_breaker":{"window":{"type":"count","size":10},"minimum_calls":10,"failure_on":{"reset":false},"consecutive_failures":5,
		"slow_call_duration":"1s","slow_call_rate_threshold":0.8,"open_duration":"10s","max_open_duration":"10s","open_backoff":2,"half_open_calls":3,"max_keys":50}`))
	cb := c.Policies[0].CircuitBreaker
	check(t, "count window", cb.Window, Window{Type: WindowCount, Size: 10})
	check(t, "tuned", []any{cb.MinimumCalls, cb.ConsecutiveFailures, cb.SlowCallDuration, cb.SlowCallRateThreshold, cb.OpenDuration, cb.MaxOpenDuration, cb.OpenBackoff, cb.HalfOpenCalls, cb.MaxKeys},
		[]any{10, 5, time.Second, 0.8, 10 * time.Second, 10 * time.Second, 2.0, 3, 50})
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

func TestDefaultsOtherBlocks(t *testing.T) {
	c := mustParse(t, pol(`"bulkhead":{"max_concurrent":5}`))
	check(t, "bulkhead", *c.Policies[0].Bulkhead, Bulkhead{MaxConcurrent: 5, LeaseTTL: time.Minute, MaxKeys: 10000})
	c = mustParse(t, pol(`"bulkhead":{"key":["remote_address"],"max_concurrent":5,"queue":{"max_size":3,"max_wait":"50ms"},"lease_ttl":"2s","max_keys":9}`))
	check(t, "bulkhead", *c.Policies[0].Bulkhead, Bulkhead{Key: []KeyPart{{KeyRemoteAddress, ""}}, MaxConcurrent: 5, Queue: &Queue{3, 50 * time.Millisecond}, LeaseTTL: 2 * time.Second, MaxKeys: 9})

	c = mustParse(t, pol(`"retry":{}`))
	check(t, "retry", *c.Policies[0].Retry, Retry{MaxRetries: 1, RetryOn: []string{"5xx", "reset", "connect-failure"}, Methods: []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}})
	c = mustParse(t, pol(`"retry":{"max_retries":0,"methods":["post","Patch"],"budget":{}}`))
	check(t, "retry", *c.Policies[0].Retry, Retry{RetryOn: []string{"5xx", "reset", "connect-failure"}, Methods: []string{"POST", "PATCH"}, Budget: &RetryBudget{Ratio: 0.2, MinPerSecond: 5}})
	c = mustParse(t, pol(`"retry":{"budget":{"ratio":0}}`))
	check(t, "budget", *c.Policies[0].Retry.Budget, RetryBudget{Ratio: 0, MinPerSecond: 5})

	c = mustParse(t, pol(`"timeout":{"deadline":{}}`))
	check(t, "timeout", *c.Policies[0].Timeout, Timeout{Deadline: &Deadline{}})
	c = mustParse(t, pol(`"timeout":{"request":"1s","deadline":{"min_remaining":"0s"},"adaptive":{"min":"10ms","max":"1s"}}`))
	check(t, "timeout", *c.Policies[0].Timeout, Timeout{Request: time.Second, Deadline: &Deadline{},
		Adaptive: &Adaptive{Quantile: 0.95, Multiplier: 1.0, Min: 10 * time.Millisecond, Max: time.Second, MinSamples: 20}})

	c = mustParse(t, pol(`"circuit_breaker":{},"fallback":{"on":["upstream_failure"],"body":"x"}`))
	check(t, "fallback", *c.Policies[0].Fallback, Fallback{On: []Reason{ReasonUpstreamFailure}, Body: "x"})
	c = mustParse(t, pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{"X-B":"1","A":"2"},"stale":{"max_age":"1m"}}`))
	check(t, "fallback", *c.Policies[0].Fallback, Fallback{On: []Reason{ReasonCircuitOpen},
		Headers: []Header{{"x-b", "1"}, {"a", "2"}}, Stale: &Stale{MaxAge: time.Minute, MaxBodyBytes: 65536}})

	c = mustParse(t, pol(`"fault":{"abort":{"percent":0}}`))
	check(t, "fault", *c.Policies[0].Fault, Fault{Abort: &FaultAbort{Percent: 0, Status: 503}})
	c = mustParse(t, pol(`"fault":{"delay":{"percent":100,"duration":"1s"},"only_with_header":"X-Fault"}`))
	check(t, "fault", *c.Policies[0].Fault, Fault{Delay: &FaultDelay{Percent: 100, Duration: time.Second}, OnlyWithHeader: "x-fault"})
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

// TestFullExample parses the example of every block of docs/configuration.md
// (testdata/full.json, the contract's snippets assembled into one policy)
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
	check(t, "rate_limit", *p.RateLimit, RateLimit{
		Limits: []*Limit{
			{Name: "per-user", Key: []KeyPart{{KeyHeader, "x-user-id"}}, Scope: ScopeLocal, Algorithm: TokenBucket,
				Rate: Rate{Requests: 100, Per: time.Minute, Burst: 20},
				Tier: &Tier{From: KeyPart{KeyHeader, "x-user-tier"}, Default: "basic",
					Limits: map[string]Rate{"premium": {Requests: 1000, Per: time.Minute, Burst: 100}}, Names: []string{"premium"}},
				MaxKeys: 10000},
			{Name: "per-endpoint", Key: []KeyPart{{KeyPath, ""}}, Scope: ScopeLocal, Algorithm: SlidingWindow,
				Rate: Rate{Requests: 1000, Per: time.Minute}, MaxKeys: 10000},
			{Name: "global", Scope: ScopeLocal, Algorithm: FixedWindow, Rate: Rate{Requests: 10000, Per: time.Minute}, MaxKeys: 10000},
			{Name: "smooth", Scope: ScopeLocal, Algorithm: LeakyBucket, Rate: Rate{Requests: 50, Per: time.Second, Burst: 50, MaxDelay: 200 * time.Millisecond}, MaxKeys: 10000},
			{Name: "mesh", Key: []KeyPart{{KeyHeader, "x-user-id"}}, Scope: ScopeGlobal, MaxKeys: 10000, DescriptorKey: "user"},
		},
		Service: &RateLimitService{Cluster: "ratelimit", Authority: "ratelimit", Domain: "breakwater", Timeout: 25 * time.Millisecond, FailureMode: FailOpen},
		Headers: true,
		Status:  429,
	})
	check(t, "circuit_breaker", *p.CircuitBreaker, CircuitBreaker{
		Window:       Window{Type: WindowTime, Duration: time.Minute, Buckets: 10},
		MinimumCalls: 20, FailureRateThreshold: 0.5, ConsecutiveFailures: 0,
		SlowCallDuration: 2 * time.Second, SlowCallRateThreshold: 1.0,
		OpenDuration: 30 * time.Second, MaxOpenDuration: 5 * time.Minute, OpenBackoff: 2.0, HalfOpenCalls: 1,
		FailureOn: FailureOn{Statuses: []int{500, 502, 503, 504}, Reset: true, Timeout: true, ConnectFailure: true},
		Mode:      ModeEnforce, MaxKeys: 10000,
	})
	check(t, "bulkhead", *p.Bulkhead, Bulkhead{MaxConcurrent: 20, Queue: &Queue{MaxSize: 50, MaxWait: 100 * time.Millisecond}, LeaseTTL: time.Minute, MaxKeys: 10000})
	check(t, "retry", *p.Retry, Retry{MaxRetries: 2,
		RetryOn:              []string{"5xx", "gateway-error", "reset", "connect-failure", "retriable-status-codes"},
		RetriableStatusCodes: []int{503}, PerTryTimeout: 500 * time.Millisecond,
		Methods: []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}, Budget: &RetryBudget{Ratio: 0.2, MinPerSecond: 5}})
	check(t, "timeout", *p.Timeout, Timeout{Request: 2 * time.Second,
		Deadline: &Deadline{Propagate: true, MinRemaining: 10 * time.Millisecond},
		Adaptive: &Adaptive{Quantile: 0.95, Multiplier: 1.2, Extra: 20 * time.Millisecond, Min: 50 * time.Millisecond, Max: 5 * time.Second, MinSamples: 20}})
	check(t, "fallback", *p.Fallback, Fallback{
		On:     []Reason{ReasonCircuitOpen, ReasonRateLimited, ReasonBulkheadFull, ReasonDeadlineExceeded, ReasonUpstreamFailure},
		Status: 503, Headers: []Header{{"content-type", "application/json"}}, Body: `{"degraded":true}`,
		Stale: &Stale{MaxAge: 5 * time.Minute, MaxBodyBytes: 65536}})
	check(t, "fault", *p.Fault, Fault{Abort: &FaultAbort{Percent: 5, Status: 503}, Delay: &FaultDelay{Percent: 10, Duration: 200 * time.Millisecond}, OnlyWithHeader: "x-breakwater-fault"})
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
