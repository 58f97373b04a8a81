package config

import (
	"regexp"
	"time"

	"github.com/breakwater/breakwater/patterns/breaker"
	"github.com/breakwater/breakwater/patterns/bulkhead"
	"github.com/breakwater/breakwater/patterns/deadletter"
	"github.com/breakwater/breakwater/patterns/fault"
	"github.com/breakwater/breakwater/patterns/ratelimit"
	"github.com/breakwater/breakwater/patterns/retry"
	"github.com/breakwater/breakwater/patterns/timeout"
)

// Config is a parsed and validated plugin configuration. Every field holds
// its effective value: defaults are already applied (see doc.go). The
// blocks of the patterns hold the pattern's own Settings, normalized by its
// Normalize (the one home of its defaults and cross-field rules).
type Config struct {
	// Namespace prefixes every shared-data key and metric name.
	// Default "breakwater". Syntax [a-z0-9_-]+, at most 64 bytes.
	Namespace string
	// Policies in document order; at least one. The first whose Match holds
	// applies to a request.
	Policies []*Policy
	// MaxSharedBytes caps the worst-case shared data of the configuration
	// (SharedBytes); a configuration above it is refused. Default
	// DefaultMaxSharedBytes (256 MiB), in [2^20, 2^40].
	MaxSharedBytes int64
}

// Policy is one entry of "policies". A nil block pointer means the block is
// absent from the configuration.
type Policy struct {
	_ [0]func() // not comparable: no generated equality in the .wasm
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
// is set. Requests are matched in normal form (patterns/normalize): the
// path without query, fragment, ;params, dot segments, empty segments or a
// trailing slash, unreserved characters decoded; the authority lower-cased
// without a trailing dot or the scheme's default port.
type Match struct {
	// PathPrefix: the normal request path starts with it (a string prefix);
	// a prefix ending in "/" also matches the path without that slash.
	// Stored in normal form, keeping one trailing "/" if configured.
	// Starts with "/".
	PathPrefix string
	// PathExact: the normal request path equals it. Stored in normal form
	// (so "/orders/" is "/orders": a trailing slash is not significant).
	PathExact string
	// PathRegex matches the WHOLE normal request path: the configured
	// expression is compiled once as ^(?:EXPR)$ (RE2 syntax), ^(?i:EXPR)$
	// with IgnoreCase.
	PathRegex *regexp.Regexp
	// IgnoreCase compares the path conditions case-insensitively (for
	// case-insensitive upstreams). Default false.
	IgnoreCase bool
	// EscapedSlashes says what a path holding %2F or %5C (an encoded
	// separator, never decoded) meets when the policy has a path condition:
	// EscapedSlashesReject (the default) answers 400 escaped_slash,
	// EscapedSlashesKeep matches the path as is.
	EscapedSlashes EscapedSlashes
	// Methods, upper-cased at parse time, compared case-insensitively.
	// Non-empty when set, no duplicates.
	Methods []string
	// Authority is compared with the request's normal :authority; stored in
	// normal form (lower case, no trailing dot, no :80 or :443). When it has
	// no port, a request authority "host:port" matches on its host.
	Authority string
	// Headers: every one must hold.
	Headers []HeaderMatch
}

// EscapedSlashes is match.escaped_slashes.
type EscapedSlashes uint8

const (
	// EscapedSlashesReject: "reject", the default (the zero value).
	EscapedSlashesReject EscapedSlashes = iota
	// EscapedSlashesKeep: "keep".
	EscapedSlashesKeep
)

// ReasonEscapedSlash is the x-breakwater-reason of the 400 a policy with
// escaped_slashes "reject" answers. It is not a Reason of fallback.on: the
// request is refused before any pattern runs.
const ReasonEscapedSlash = "escaped_slash"

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

// Limit is one entry of rate_limit.limits.
type Limit struct {
	// Name is required, unique within the policy, [a-z0-9_-]+.
	Name string
	// Key: descriptor parts; empty means one shared key. Required (non-empty)
	// for scope global: it is the descriptor value.
	Key []KeyPart
	// Scope: default local.
	Scope Scope
	// Settings are the limit's own (default tier's) parameters, normalized
	// by ratelimit.Settings.Normalize (algorithm default token_bucket, burst
	// default requests). For a global limit they are the local fallback
	// used under service.failure_mode "local" (required then, refused
	// otherwise) and the zero Settings otherwise (Requests 0).
	ratelimit.Settings
	// Tier is nil when "tier" is absent. Local limits only.
	Tier *Tier
	// MaxKeys bounds the distinct key values kept. Default 10000, 1..1e6.
	MaxKeys int
	// DescriptorKey is the descriptor entry key sent to the rate limit
	// service. Required for scope global, refused for local.
	DescriptorKey string
}

// Tier picks the Settings of a limit by the value of a descriptor part.
type Tier struct {
	// From is the descriptor part whose value names the tier.
	From KeyPart
	// Default names the tier of the limit's own parameters; it is used for a
	// missing or unknown value. It must not appear in Limits.
	Default string
	// Limits maps tier names to their normalized parameters (the limit's
	// algorithm; burst defaults to the tier's requests, max_delay to the
	// limit's).
	Limits map[string]ratelimit.Settings
	// Names lists the keys of Limits in document order.
	Names []string
}

// RateLimitService is rate_limit.service: the envoyproxy/ratelimit service
// called over HTTP (POST /json) for global limits.
type RateLimitService struct {
	_         [0]func() // not comparable: no generated equality in the .wasm
	Cluster   string    // required
	Authority string    // default Cluster
	Domain    string    // required
	// Timeout of the call. Default 25ms.
	Timeout time.Duration
	// FailureMode when the service fails or times out. Default allow.
	FailureMode FailureMode
}

// CircuitBreaker is the "circuit_breaker" block.
type CircuitBreaker struct {
	// Settings are the breaker's, normalized by breaker.Settings.Normalize
	// (window, minimum_calls, thresholds, open durations, half-open probes,
	// mode, and their derived defaults). CallTimeout is the policy's
	// timeout.request (the larger of it and timeout.adaptive.max), 0 when
	// the policy has none.
	breaker.Settings
	// Key: empty means one breaker for the policy.
	Key []KeyPart
	// FailureOn: default statuses 500,502,503,504, reset, timeout and
	// connect_failure all true. Each absent field of a present failure_on
	// takes its default.
	FailureOn FailureOn
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
	// Settings are the bulkhead's, normalized by bulkhead.Settings.Normalize:
	// MaxConcurrent (required), QueueSize and MaxWait (queue.max_size and
	// queue.max_wait, both required in a queue; QueueSize 0 when queue is
	// absent: a request beyond MaxConcurrent is rejected at once), LeaseTTL
	// (default 60s).
	bulkhead.Settings
	// Key: empty means one bulkhead for the policy.
	Key []KeyPart
	// MaxKeys bounds the distinct key values kept (field added by the
	// project). Default 10000, 1..1e6.
	MaxKeys int
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
	// Budget is nil when absent (no budget), else normalized by
	// retry.Settings.Normalize (ratio default 0.2, min_per_second default 5).
	Budget *retry.Settings
}

// Timeout is the "timeout" block; at least one of its fields is set.
type Timeout struct {
	// Request is the upstream request timeout; 0 when absent.
	Request time.Duration
	// Deadline is nil when absent.
	Deadline *Deadline
	// Adaptive is nil when absent, else normalized by
	// timeout.Adaptive.Normalize; it requires Request.
	Adaptive *timeout.Adaptive
}

// Deadline propagation and checking.
type Deadline struct {
	_ [0]func() // not comparable: no generated equality in the .wasm
	// Propagate: default false.
	Propagate bool
	// MinRemaining: default 0, may be 0.
	MinRemaining time.Duration
	// Max bounds the upstream timeout a caller's budget can produce when
	// the policy has no timeout of its own (no request, no adaptive): a
	// caller only ever shortens. Default timeout.DefaultDeadlineMax (15s,
	// Envoy's default route timeout); never 0 after parsing.
	Max time.Duration
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
	// Key: descriptor parts added to the cache key (after :authority and
	// :path); nil when absent. A request carrying Authorization (Cookie) is
	// cached only when Key holds header:authorization (header:cookie), and
	// a response's Vary only names headers Key holds.
	Key []KeyPart
}

// Fault is the "fault" block; at least one of abort and delay is set.
type Fault struct {
	_ [0]func() // not comparable: no generated equality in the .wasm
	// Settings are normalized by fault.Settings.Normalize: abort.percent
	// and abort.status (default 503) in AbortPercent and AbortStatus,
	// delay.percent and delay.duration in DelayPercent and Delay; the
	// fields of an absent sub-block are 0.
	fault.Settings
	// HasAbort and HasDelay say whether "abort" and "delay" are present.
	HasAbort, HasDelay bool
	// OnlyWithHeader: lower-case header name; "" when absent.
	OnlyWithHeader string
}

// The stale cache's shared-data bound (fallback.stale): StaleSlots records
// per policy, each at most StaleRecordOverhead + max_body_bytes bytes (the
// layout is in filter/stale.go).
const (
	StaleSlots = 64
	// StaleMaxID bounds the cache key kept in a record: a longer key is
	// kept as a 17-byte digest.
	StaleMaxID = 256
	// StaleMaxHeaderBytes bounds the representation headers kept with a
	// body (length prefixes included); a response with more is not kept.
	StaleMaxHeaderBytes = 4096
	// StaleRecordOverhead is the most a record holds besides the body.
	StaleRecordOverhead = 2 + StaleMaxID + 8 + 1 + StaleMaxHeaderBytes
)

// StaleBytes is the most shared data one policy's stale cache writes.
func (s *Stale) StaleBytes() int64 {
	return StaleSlots * int64(StaleRecordOverhead+s.MaxBodyBytes)
}
