package config

import (
	"regexp"
	"time"

	"github.com/breakwater/breakwater/patterns/deadletter"
)

// Config is a parsed and validated plugin configuration. Every field holds
// its effective value: defaults are already applied (see doc.go).
type Config struct {
	// Namespace prefixes every shared-data key and metric name.
	// Default "breakwater". Syntax [a-z0-9_-]+, at most 64 bytes.
	Namespace string
	// Policies in document order; at least one. The first whose Match holds
	// applies to a request.
	Policies []*Policy
}

// Policy is one entry of "policies". A nil block pointer means the block is
// absent from the configuration.
type Policy struct {
	// Name is unique in the configuration, [a-z0-9_-]+, at most 64 bytes.
	Name string
	// Match is nil when "match" is absent or empty: every request matches.
	Match *Match

	RateLimit      *RateLimit
	CircuitBreaker *CircuitBreaker
	Bulkhead       *Bulkhead
	Retry          *Retry
	Timeout        *Timeout
	Fallback       *Fallback
	Fault          *Fault
	// DeadLetter is the "dead_letter" block, decoded straight into the
	// pattern's own Settings (normalised: defaults applied). Nil when absent.
	DeadLetter *deadletter.Settings
}

// Match holds the conditions of a policy, all of which must hold. Empty
// fields are no condition. At most one of PathPrefix, PathExact, PathRegex
// is set.
type Match struct {
	// PathPrefix: the request path (query string removed) starts with it.
	// Starts with "/".
	PathPrefix string
	// PathExact: the request path (query string removed) equals it.
	// Starts with "/".
	PathExact string
	// PathRegex matches the WHOLE request path (query string removed): the
	// configured expression is compiled once as ^(?:EXPR)$ (RE2 syntax).
	PathRegex *regexp.Regexp
	// Methods, upper-cased at parse time, compared case-insensitively.
	// Non-empty when set, no duplicates.
	Methods []string
	// Authority is compared case-insensitively with :authority. When it has
	// no port, a request authority "host:port" matches on its host.
	Authority string
	// Headers: every one must hold.
	Headers []HeaderMatch
}

// HeaderMatchKind says how a HeaderMatch tests its header.
type HeaderMatchKind uint8

const (
	// HeaderExact: the header is present and its value equals Value.
	HeaderExact HeaderMatchKind = iota + 1
	// HeaderPrefix: the header is present and its value starts with Value.
	HeaderPrefix
	// HeaderPresent: the header is present (any value, even empty).
	HeaderPresent
)

// HeaderMatch is one entry of match.headers: {name, exact | prefix | present: true}.
type HeaderMatch struct {
	Name  string // lower case
	Kind  HeaderMatchKind
	Value string // for HeaderExact and HeaderPrefix
}

// KeyKind is the kind of a descriptor part of a "key" array.
type KeyKind uint8

const (
	KeyHeader        KeyKind = iota + 1 // "header:NAME", Arg = NAME in lower case
	KeyPath                             // "path" (the request path)
	KeyMethod                           // "method"
	KeyAuthority                        // "authority"
	KeyRemoteAddress                    // "remote_address"
	KeyProperty                         // "property:a.b.c", Arg = "a.b.c"
	KeyConst                            // "const:VALUE", Arg = VALUE
)

// KeyPart is one descriptor part. Arg is empty for the kinds without an
// argument. String renders the configuration syntax back.
type KeyPart struct {
	Kind KeyKind
	Arg  string
}

// Algorithm of a local rate limit.
type Algorithm string

const (
	TokenBucket   Algorithm = "token_bucket"
	GCRA          Algorithm = "gcra"
	FixedWindow   Algorithm = "fixed_window"
	SlidingWindow Algorithm = "sliding_window"
	LeakyBucket   Algorithm = "leaky_bucket"
)

// Scope of a rate limit: decided in this Envoy, or by the external service.
type Scope string

const (
	ScopeLocal  Scope = "local"
	ScopeGlobal Scope = "global"
)

// FailureMode of the external rate limit service.
type FailureMode string

const (
	FailOpen   FailureMode = "allow" // admit the request
	FailClosed FailureMode = "deny"  // reject it (rate_limited)
	FailLocal  FailureMode = "local" // decide the global limit with its own local parameters
)

// RateLimit is the "rate_limit" block.
type RateLimit struct {
	// Limits: at least one; names unique within the policy. A request must
	// pass them all.
	Limits []*Limit
	// Service is nil unless some limit has scope global (then required).
	Service *RateLimitService
	// Headers: add RateLimit-* and Retry-After headers. Default true.
	Headers bool
	// Status of the rate_limited local response. Default 429, in 200..599.
	Status int
}

// Rate is the parameters of one tier of a local limit.
type Rate struct {
	// Requests per Per: 1..1e9, and Per/Requests is at least 1ns.
	Requests int64
	// Per: at least 1ms.
	Per time.Duration
	// Burst is the bucket capacity for token_bucket, gcra and leaky_bucket:
	// 1..1e9, default Requests. It is 0 for fixed_window and sliding_window
	// (configuring burst there is an error).
	Burst int64
	// MaxDelay is the longest a leaky_bucket limit delays a request; required
	// and positive for leaky_bucket, 0 (and refused in the configuration)
	// for every other algorithm.
	MaxDelay time.Duration
}

// Limit is one entry of rate_limit.limits.
type Limit struct {
	// Name is required, unique within the policy, [a-z0-9_-]+.
	Name string
	// Key: descriptor parts; empty means one shared key. Required (non-empty)
	// for scope global: it is the descriptor value.
	Key []KeyPart
	// Scope: default local.
	Scope Scope
	// Algorithm: default token_bucket. For a global limit without local
	// parameters it is "".
	Algorithm Algorithm
	// Rate is the limit's own (default tier's) parameters. For a global
	// limit it is the local fallback used under service.failure_mode
	// "local" (required then, refused otherwise) and zero otherwise.
	Rate Rate
	// Tier is nil when "tier" is absent. Local limits only.
	Tier *Tier
	// MaxKeys bounds the distinct key values kept. Default 10000, 1..1e6.
	MaxKeys int
	// DescriptorKey is the descriptor entry key sent to the rate limit
	// service. Required for scope global, refused for local.
	DescriptorKey string
}

// Tier picks the Rate of a limit by the value of a descriptor part.
type Tier struct {
	// From is the descriptor part whose value names the tier.
	From KeyPart
	// Default names the tier of the limit's own parameters; it is used for a
	// missing or unknown value. It must not appear in Limits.
	Default string
	// Limits maps tier names to their parameters (same algorithm as the
	// limit; burst defaults to the tier's requests, max_delay to the limit's).
	Limits map[string]Rate
	// Names lists the keys of Limits in document order.
	Names []string
}

// RateLimitService is rate_limit.service: the envoyproxy/ratelimit service
// called over HTTP (POST /json) for global limits.
type RateLimitService struct {
	Cluster   string // required
	Authority string // default Cluster
	Domain    string // required
	// Timeout of the call. Default 25ms.
	Timeout time.Duration
	// FailureMode when the service fails or times out. Default allow.
	FailureMode FailureMode
}

// WindowType of a circuit breaker window.
type WindowType string

const (
	WindowCount WindowType = "count"
	WindowTime  WindowType = "time"
)

// Window of a circuit breaker. Default {count, 100}.
type Window struct {
	Type WindowType
	// Size is the number of calls of a count window (1..100000); 0 for a time window.
	Size int
	// Duration is the length of a time window; 0 for a count window.
	Duration time.Duration
	// Buckets splits a time window (1..1000, default 10; Duration/Buckets
	// at least 1ms); 0 for a count window.
	Buckets int
}

// BreakerMode of a circuit breaker.
type BreakerMode string

const (
	ModeEnforce    BreakerMode = "enforce"
	ModeObserve    BreakerMode = "observe"
	ModeForcedOpen BreakerMode = "forced_open"
	ModeDisabled   BreakerMode = "disabled"
)

// CircuitBreaker is the "circuit_breaker" block.
type CircuitBreaker struct {
	// Key: empty means one breaker for the policy.
	Key []KeyPart
	// Window: default {count, 100}; buckets default 10 for time windows.
	Window Window
	// MinimumCalls: default 20, 1..1e6, at most Window.Size for a count window.
	MinimumCalls int
	// FailureRateThreshold: default 0.5, in (0,1].
	FailureRateThreshold float64
	// ConsecutiveFailures: default 0 (off), 0..1e6.
	ConsecutiveFailures int
	// SlowCallDuration: 0 (absent) means slow calls are not tracked.
	SlowCallDuration time.Duration
	// SlowCallRateThreshold: default 1.0, in (0,1]. Setting it without
	// slow_call_duration is an error.
	SlowCallRateThreshold float64
	// OpenDuration: default 30s.
	OpenDuration time.Duration
	// MaxOpenDuration: default 5m, at least OpenDuration.
	MaxOpenDuration time.Duration
	// OpenBackoff: default 1.0 (no growth), in [1,100].
	OpenBackoff float64
	// HalfOpenCalls: default 1, 1..64 (one bit each in the shared record).
	HalfOpenCalls int
	// FailureOn: default statuses 500,502,503,504, reset, timeout and
	// connect_failure all true. Each absent field of a present failure_on
	// takes its default.
	FailureOn FailureOn
	// Mode: default enforce.
	Mode BreakerMode
	// MaxKeys bounds the distinct key values kept (field added by the
	// project, not in the original contract). Default 10000, 1..1e6.
	MaxKeys int
}

// FailureOn says which outcomes count as failures.
type FailureOn struct {
	// Statuses: upstream status codes in 200..599, no duplicates; may be empty.
	Statuses       []int
	Reset          bool
	Timeout        bool
	ConnectFailure bool
}

// Bulkhead is the "bulkhead" block.
type Bulkhead struct {
	// Key: empty means one bulkhead for the policy.
	Key []KeyPart
	// MaxConcurrent: required, 1..1e6, and 16×MaxConcurrent + 24×Queue.MaxSize
	// + 5 <= 65535 (the key's shared record).
	MaxConcurrent int
	// Queue is nil when absent: a request beyond MaxConcurrent is rejected at once.
	Queue *Queue
	// LeaseTTL: default 60s, at least 1s.
	LeaseTTL time.Duration
	// MaxKeys bounds the distinct key values kept (field added by the
	// project). Default 10000, 1..1e6.
	MaxKeys int
}

// Queue of a bulkhead. Both fields are required.
type Queue struct {
	MaxSize int           // 1..1e6
	MaxWait time.Duration // positive
}

// Retry is the "retry" block.
type Retry struct {
	// MaxRetries: default 1 (Envoy's own default), 0..10.
	MaxRetries int
	// RetryOn: Envoy retry-on conditions. Default ["5xx", "reset",
	// "connect-failure"]. Non-empty, no duplicates.
	RetryOn []string
	// RetriableStatusCodes: required (non-empty) when RetryOn holds
	// "retriable-status-codes", refused otherwise. 200..599.
	RetriableStatusCodes []int
	// PerTryTimeout: 0 when absent; at most timeout.request when both are set.
	PerTryTimeout time.Duration
	// Methods that get retries, upper case. Default GET HEAD OPTIONS PUT DELETE.
	Methods []string
	// Budget is nil when absent (no budget).
	Budget *RetryBudget
}

// RetryBudget bounds retries across all workers.
type RetryBudget struct {
	// Ratio of retries to requests: default 0.2, in [0,1].
	Ratio float64
	// MinPerSecond retries always allowed: default 5, 0..1e6. Ratio and
	// MinPerSecond cannot both be 0.
	MinPerSecond int
}

// Timeout is the "timeout" block; at least one of its fields is set.
type Timeout struct {
	// Request is the upstream request timeout; 0 when absent.
	Request time.Duration
	// Deadline is nil when absent.
	Deadline *Deadline
	// Adaptive is nil when absent; it requires Request.
	Adaptive *Adaptive
}

// Deadline propagation and checking.
type Deadline struct {
	// Propagate: default false.
	Propagate bool
	// MinRemaining: default 0, may be 0.
	MinRemaining time.Duration
}

// Adaptive timeout: quantile × multiplier + extra, clamped to [Min, Max].
type Adaptive struct {
	Quantile   float64       // default 0.95, in (0,1)
	Multiplier float64       // default 1.0, in (0,100]
	Extra      time.Duration // default 0
	Min        time.Duration // required, positive
	Max        time.Duration // required, at least Min
	MinSamples int           // default 20, 1..1e6
}

// Reason of a rejection (x-breakwater-reason).
type Reason string

const (
	ReasonRateLimited      Reason = "rate_limited"
	ReasonCircuitOpen      Reason = "circuit_open"
	ReasonBulkheadFull     Reason = "bulkhead_full"
	ReasonDeadlineExceeded Reason = "deadline_exceeded"
	ReasonFaultAbort       Reason = "fault_abort"
	ReasonUpstreamFailure  Reason = "upstream_failure"
)

// Reasons lists every rejection reason.
var Reasons = []Reason{ReasonRateLimited, ReasonCircuitOpen, ReasonBulkheadFull,
	ReasonDeadlineExceeded, ReasonFaultAbort, ReasonUpstreamFailure}

// Fallback is the "fallback" block.
type Fallback struct {
	// On: the reasons it applies to; required, non-empty, no duplicates,
	// each one a reason the policy can produce (see doc.go).
	On []Reason
	// Status replaces the reason's status; 0 when absent (status unchanged).
	Status int
	// Headers added to the local response, names in lower case, document order.
	Headers []Header
	// Body of the local response; "" when absent.
	Body string
	// Stale is nil when absent.
	Stale *Stale
}

// Header is a response header.
type Header struct {
	Name  string
	Value string
}

// Stale serving of the last good response.
type Stale struct {
	MaxAge       time.Duration // required, positive
	MaxBodyBytes int           // default 65536, 1..16 MiB
}

// Fault is the "fault" block; at least one of Abort and Delay is set.
type Fault struct {
	Abort *FaultAbort
	Delay *FaultDelay
	// OnlyWithHeader: lower-case header name; "" when absent.
	OnlyWithHeader string
}

// FaultAbort aborts Percent of requests with Status.
type FaultAbort struct {
	Percent float64 // required, in [0,100]
	Status  int     // default 503, 200..599
}

// FaultDelay delays Percent of requests by Duration.
type FaultDelay struct {
	Percent  float64       // required, in [0,100]
	Duration time.Duration // required, positive
}
