package confref

import (
	"encoding/json"

	"github.com/breakwater/breakwater/patterns/breaker"
	"github.com/breakwater/breakwater/patterns/deadletter"
	"github.com/breakwater/breakwater/patterns/ratelimit"
	"github.com/breakwater/breakwater/patterns/retry"
)

// maxCount bounds requests and burst (ratelimit.MaxCount, 2^62).
const maxCount = float64(ratelimit.MaxCount)

// burstProbe is a limit where burst can reach maxCount within the refill bound.
const burstProbe = `{"name":"a","requests":4611686018427387904,"per":"1m"}`

// Kind is the JSON shape of a field's value.
type Kind int

const (
	String          Kind = iota // a string (MaxLen bytes at most when set, no control characters)
	Name                        // [a-z0-9_-]+, at most 64 bytes
	Enum                        // one of Enum
	Integer                     // a JSON integer (written without fraction or exponent) in Range
	Number                      // a JSON number in Range
	Boolean                     // true or false
	Const                       // must be the JSON literal in Enum[0]
	Duration                    // a Go duration string ("250ms", "2s", "1m"), positive unless ZeroOK
	PathString                  // a request path: starts with "/", no "?", "#", spaces or control characters
	Regex                       // an RE2 expression
	HeaderName                  // an RFC 9110 token, at most 256 bytes, compared case-insensitively
	Object                      // the block Ref
	ObjectArray                 // a non-empty array of the block Ref
	ObjectMap                   // a non-empty object NAME -> the block Ref
	StringMap                   // an object HEADER-NAME -> string
	KeyParts                    // an array of key parts (at most 16, no duplicates)
	KeyPart                     // one key part
	StatusList                  // an array of HTTP statuses (200..599), no duplicates
	MethodList                  // a non-empty array of HTTP methods (at most 64), no duplicates
	EnumList                    // a non-empty array of Enum values, no duplicates
	CountOrDuration             // an integer in Range (count window) or a Duration (time window)
	HeaderList                  // an array of header names (at most 64, may be empty), no duplicates
)

// maxDur is the bound of every duration of the configuration
// (filter/config.MaxDuration, 87600h = 10 years): instants computed from a
// duration (expiries in Unix nanoseconds, window indices, token arithmetic)
// stay far from int64 overflow.
const maxDur = "87600h"

// Range bounds a number. Lo and Hi are both inclusive unless LoOpen or HiOpen.
type Range struct {
	Lo, Hi         float64
	LoOpen, HiOpen bool
}

func r(lo, hi float64) *Range { return &Range{Lo: lo, Hi: hi} }

// js renders a pattern's default as a JSON literal.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// Field is one key of a block.
type Field struct {
	Key  string
	Kind Kind
	// Ref is the Path of the block of an Object, ObjectArray or ObjectMap.
	Ref string
	// Enum lists the values of an Enum or EnumList (and the literal of a Const).
	Enum []string
	// Range bounds an Integer, Number or the count of a CountOrDuration, and
	// each element of a StatusList (always 200..599).
	Range *Range
	// MaxLen bounds a String (bytes); a String with a MaxLen is non-empty
	// and free of control characters.
	MaxLen int
	// Pattern, for a String, is an ECMA-262 pattern the schema checks
	// (with a MaxLen, instead of the control-character one).
	Pattern string
	// Probe, when set, is the example of the block the bounds of this field
	// are probed in (instead of the block's Example).
	Probe string
	// ZeroOK: a Duration may be "0s".
	ZeroOK bool
	// MinDuration and MaxDuration bound a Duration (Go syntax, "" for none).
	MinDuration, MaxDuration string
	// Required: the field must be present (RequiredNote says when it is
	// required only in some cases).
	Required     bool
	RequiredNote string
	// Default is the JSON value used when the field is absent ("" when there
	// is none: the field is required, or absent means "off"/"unset", which
	// Absent says).
	Default string
	// Derived says what the default is derived from, when it is not a
	// constant (Default is then the value in the usual case, or "").
	Derived string
	// Absent says what leaving the field out means when there is no Default.
	Absent string
	// Bounds describes rules beyond the type and Range, for the reference
	// (cross-field rules, record sizes).
	Bounds string
	// Doc says what the field means.
	Doc string
}

// Block is one JSON object of the configuration.
type Block struct {
	// Path of the object: keys joined by ".", "[]" for the elements of an
	// array and "*" for the values of an object keyed by names. "" is the
	// document root.
	Path string
	// Title of the section in the reference.
	Title string
	// Doc introduces the block (Markdown).
	Doc string
	// Rules lists the block's cross-field rules (Markdown, one per line).
	Rules []string
	// Example is a JSON example of the block (valid as it stands).
	Example string
	// Wrap is a whole configuration with "@" where the block goes: the
	// example is valid in it (the tests check it, and probe the bounds of the
	// block's fields in it).
	Wrap   string
	Fields []Field
}

// Blocks is every object of the configuration, in the order of the reference.
var Blocks = []Block{
	{
		Path:  "",
		Title: "Top level",
		Doc:   "The plugin configuration is one JSON object.",
		Rules: []string{
			"Worst-case shared data (what `breakwater validate --explain` prints per block and in total) is at most `max_shared_bytes`. Each keyed block (a rate limit, `circuit_breaker` or `bulkhead` with a `key`) writes at most S = ceil(max_keys/W) sets of W = min(4, max_keys) entries, plus one overflow record: S × (len(name) + W × (75 + R)) + len(name) + 9 + R bytes, where name is the set's shared-data key (`<namespace>/<policy>/rl/<limit>/<set>`, `.../cb/<set>`, `.../bh/<set>`) and R the record: 27 bytes for a limit (117 for `sliding_window`); 40 + 12 + 2 × ceil(window/8) for a count-window breaker, 40 + 20 + 12 × buckets for a time window; 5 + 16 × max_concurrent + 24 × queue.max_size for a bulkhead. An unkeyed block writes one entry (len(name) + 11 + R). `fallback.stale` writes 64 × (len(name) + 4363 + max_body_bytes); a `retry.budget` 81 bytes and its name; the plugin its hash key (16 bytes) and VM ordinal counter (8 bytes, `<namespace>/vm`) with their names.",
		},
		Example: `{
  "$schema": "https://raw.githubusercontent.com/breakwater/breakwater/main/docs/breakwater.schema.json",
  "namespace": "breakwater",
  "policies": [ { "name": "api", "match": { "path_prefix": "/api" } }, { "name": "rest" } ]
}`,
		Wrap: `@`,
		Fields: []Field{
			{Key: "$schema", Kind: String, Absent: "nothing", Doc: "Ignored by the plugin: lets an editor find the JSON Schema of the configuration (see [Editor support](#editor-support))."},
			{Key: "namespace", Kind: Name, Default: `"breakwater"`, Doc: "Prefixes every shared-data key and metric name: two plugins with different namespaces share nothing."},
			{Key: "policies", Kind: ObjectArray, Ref: "policies[]", Required: true, Doc: "The policies, in order. The first whose `match` holds applies to a request; a request that matches none passes untouched."},
			{Key: "max_shared_bytes", Kind: Integer, Range: r(1<<20, 1<<40), Default: "268435456", Doc: "Caps the configuration's worst-case shared data (the formula under Rules): a configuration above it is refused, naming the setting of its largest user. 256 MiB by default. Added by the project."},
		},
	},
	{
		Path:  "policies[]",
		Title: "Policy",
		Doc:   "A policy: a match condition and the patterns applied to the requests it matches. Every block but `name` is optional; an absent block is not applied. A matched request meets the blocks in this order: `fault` → `timeout.deadline` → `rate_limit` → `circuit_breaker` → `bulkhead` → the router directives (`retry`, `timeout`); a request rejected by one block consumes nothing from the earlier ones, and `fallback` shapes the rejection.",
		Rules: []string{
			"Policy names are unique.",
			"A policy after one without a `match` (or with `{}`) can never apply: it is an error.",
			"`retry.per_try_timeout` is at most `timeout.request` when both are set.",
			"Each reason in `fallback.on` must be one the policy can produce (see [fallback](#policiesfallback)).",
		},
		Example: `{ "name": "orders", "match": { "path_prefix": "/orders" },
  "rate_limit": { "limits": [ { "name": "per-user", "key": ["header:x-user-id"], "requests": 100, "per": "1m" } ] },
  "circuit_breaker": {}, "timeout": { "request": "2s" } }`,
		Wrap: `{"policies":[@]}`,
		Fields: []Field{
			{Key: "name", Kind: Name, Required: true, Doc: "Names the policy in metrics, logs and the `x-breakwater-policy` header."},
			{Key: "match", Kind: Object, Ref: "policies[].match", Absent: "every request matches", Doc: "The conditions a request must meet for the policy to apply."},
			{Key: "rate_limit", Kind: Object, Ref: "policies[].rate_limit", Absent: "no rate limit", Doc: "Rate limits, local or global."},
			{Key: "circuit_breaker", Kind: Object, Ref: "policies[].circuit_breaker", Absent: "no breaker", Doc: "A circuit breaker shared by every worker."},
			{Key: "bulkhead", Kind: Object, Ref: "policies[].bulkhead", Absent: "no concurrency limit", Doc: "A concurrency limit with an optional queue."},
			{Key: "retry", Kind: Object, Ref: "policies[].retry", Absent: "the route's own retry policy", Doc: "Retries performed by Envoy's router, with an optional budget."},
			{Key: "timeout", Kind: Object, Ref: "policies[].timeout", Absent: "the route's own timeout", Doc: "Request timeout, deadline propagation, adaptive timeout."},
			{Key: "fallback", Kind: Object, Ref: "policies[].fallback", Absent: "the default local responses", Doc: "The local response (or a stale copy) for some rejection reasons."},
			{Key: "fault", Kind: Object, Ref: "policies[].fault", Absent: "no fault injection", Doc: "Fault injection: aborts and delays."},
			{Key: "dead_letter", Kind: Object, Ref: "policies[].dead_letter", Absent: "nothing is recorded", Doc: "Records the requests that failed for good, sent to a cluster."},
		},
	},
	{
		Path:  "policies[].match",
		Title: "match",
		Doc:   "Every condition set must hold. An absent or empty `match` matches every request. Requests are compared in normal form, computed once per request: the path without its query and fragment, with the percent-encodings of unreserved characters decoded (other encodings kept, hex upper-cased; `%2F` and `%5C` never decoded), `;params` cut from every segment, empty segments (merged slashes, a trailing slash) and dot segments (RFC 3986 5.2.4) removed; the authority lower-cased without a trailing dot or the scheme's default port. So `/%6Frders`, `//orders`, `/./orders`, `/x/../orders`, `/orders/` and `/orders;a=b` are all `/orders`, and `Orders.Example.com.:80` is `orders.example.com`. The configured `path_prefix`, `path_exact` and `authority` are put in the same form (a `path_prefix` keeps one trailing `/`, and then also matches the path without it; an `authority` with port 80 or 443 matches any port). The `path` and `authority` key parts use the same normal form.",
		Rules: []string{"At most one of `path_prefix`, `path_exact`, `path_regex`."},
		Example: `{ "path_prefix": "/orders", "methods": ["GET", "POST"], "authority": "orders.example.com",
  "headers": [ { "name": "x-tenant", "exact": "acme" } ] }`,
		Wrap: `{"policies":[{"name":"p","match":@}]}`,
		Fields: []Field{
			{Key: "path_prefix", Kind: PathString, Absent: "no condition", Bounds: "at most 4096 bytes", Doc: "The request path starts with it."},
			{Key: "path_exact", Kind: PathString, Absent: "no condition", Bounds: "at most 4096 bytes", Doc: "The request path equals it."},
			{Key: "path_regex", Kind: Regex, Absent: "no condition", Bounds: "1 to 4096 bytes, valid RE2", Doc: "An RE2 expression that must match the WHOLE path (it is anchored as `^(?:EXPR)$`)."},
			{Key: "ignore_case", Kind: Boolean, Default: "false", Doc: "Compare `path_prefix`, `path_exact` and `path_regex` case-insensitively (for case-insensitive upstreams)."},
			{Key: "escaped_slashes", Kind: Enum, Enum: []string{"reject", "keep"}, Default: `"reject"`, Doc: "A path holding an encoded separator (`%2F`, `%5C`, never decoded) that reaches this policy, when it has a path condition: `reject` answers 400 with `x-breakwater-reason: escaped_slash` (counted in `rejected_total.escaped_slash`), whatever the rest of the path, so an upstream that decodes it cannot be reached around the policy; `keep` compares the path as is."},
			{Key: "methods", Kind: MethodList, Absent: "any method", Doc: "The request method is one of these (compared case-insensitively)."},
			{Key: "authority", Kind: String, MaxLen: 256, Pattern: `^[^ /?#\x00-\x1f\x7f]+$`, Absent: "any authority", Bounds: "a host[:port]: no space, `/`, `?` or `#`", Doc: "The `:authority`, compared case-insensitively; without a port it matches any port."},
			{Key: "headers", Kind: ObjectArray, Ref: "policies[].match.headers[]", Absent: "no header condition", Bounds: "at most 64 entries", Doc: "Header conditions, all of which must hold."},
		},
	},
	{
		Path:    "policies[].match.headers[]",
		Title:   "match.headers[]",
		Doc:     "One header condition.",
		Rules:   []string{"Exactly one of `exact`, `prefix`, `present`."},
		Example: `{ "name": "x-tenant", "exact": "acme" }`,
		Wrap:    `{"policies":[{"name":"p","match":{"headers":[@]}}]}`,
		Fields: []Field{
			{Key: "name", Kind: HeaderName, Required: true, Doc: "The header name (case-insensitive)."},
			{Key: "exact", Kind: String, Pattern: `^[^\r\n\x00]*$`, Absent: "see the rule", Bounds: "no CR, LF or NUL", Doc: "The header is present and its value equals this."},
			{Key: "prefix", Kind: String, Pattern: `^[^\r\n\x00]*$`, Absent: "see the rule", Bounds: "no CR, LF or NUL", Doc: "The header is present and its value starts with this."},
			{Key: "present", Kind: Const, Enum: []string{"true"}, Absent: "see the rule", Doc: "The header is present, whatever its value (`false` is refused)."},
		},
	},
	{
		Path:  "policies[].rate_limit",
		Title: "rate_limit",
		Doc:   "A request must pass EVERY limit; a request rejected by one limit consumes nothing from the others.",
		Rules: []string{
			"Limit names are unique in the policy.",
			"`service` is required when a limit has scope `global`, and refused otherwise.",
		},
		Example: `{ "limits": [ { "name": "per-user", "key": ["header:x-user-id"], "requests": 100, "per": "1m", "burst": 20 },
              { "name": "mesh", "scope": "global", "key": ["header:x-user-id"], "descriptor_key": "user" } ],
  "service": { "cluster": "ratelimit", "domain": "breakwater" },
  "headers": true, "status": 429 }`,
		Wrap: `{"policies":[{"name":"p","rate_limit":@}]}`,
		Fields: []Field{
			{Key: "limits", Kind: ObjectArray, Ref: "policies[].rate_limit.limits[]", Required: true, Doc: "The limits, at least one."},
			{Key: "service", Kind: Object, Ref: "policies[].rate_limit.service", RequiredNote: "required with a global limit, refused without", Doc: "The envoyproxy/ratelimit service that decides the global limits."},
			{Key: "headers", Kind: Boolean, Default: "true", Doc: "Add `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (and `Retry-After` on a rejection)."},
			{Key: "status", Kind: Integer, Range: r(200, 599), Default: "429", Doc: "The status of the `rate_limited` local response (`breakwater validate` warns below 400)."},
		},
	},
	{
		Path:  "policies[].rate_limit.limits[]",
		Title: "rate_limit.limits[]",
		Doc:   "One limit. A local limit is decided in this Envoy (shared by its workers); a global one by the rate limit service.",
		Rules: []string{
			"A local limit requires `requests` and `per`, and refuses `descriptor_key`.",
			"A global limit requires `descriptor_key`, a non-empty `key` and `rate_limit.service`, and refuses `tier`; it takes `algorithm`, `requests`, `per`, `burst`, `max_delay` and `max_keys` (its local fallback, then required) only under `service.failure_mode` `local`.",
			"`burst` only with `token_bucket`, `gcra` and `leaky_bucket`.",
			"`max_delay` is required with `leaky_bucket` and refused with the other algorithms.",
			"`burst` × `per` / `requests` (the time to refill a full bucket) is at most 2^60 ns (about 320255h).",
		},
		Example: `{ "name": "per-user", "key": ["header:x-user-id"], "algorithm": "token_bucket",
  "requests": 100, "per": "1m", "burst": 20, "max_keys": 10000,
  "tier": { "from": "header:x-user-tier", "default": "basic",
            "limits": { "premium": { "requests": 1000, "per": "1m", "burst": 100 } } } }`,
		Wrap: `{"policies":[{"name":"p","rate_limit":{"limits":[@]}}]}`,
		Fields: []Field{
			{Key: "name", Kind: Name, Required: true, Doc: "Names the limit in metrics and logs."},
			{Key: "key", Kind: KeyParts, Absent: "one shared key for the policy", RequiredNote: "required (non-empty) for a global limit", Doc: "The descriptor parts whose values make a request's key: each key value has its own limit."},
			{Key: "scope", Kind: Enum, Enum: []string{"local", "global"}, Default: `"local"`, Doc: "`local`: decided in this Envoy; `global`: decided by `rate_limit.service`."},
			{Key: "descriptor_key", Kind: String, MaxLen: 256, RequiredNote: "required for a global limit, refused for a local one", Doc: "The descriptor entry key sent to the rate limit service (its value is the key)."},
			{Key: "algorithm", Kind: Enum, Enum: []string{"token_bucket", "gcra", "fixed_window", "sliding_window", "leaky_bucket"}, Default: `"token_bucket"`, Doc: "The algorithm of a local limit (see the README's table)."},
			{Key: "requests", Kind: Integer, Range: r(1, maxCount), RequiredNote: "required for a local limit", Doc: "Requests admitted per `per`."},
			{Key: "per", Kind: Duration, MaxDuration: maxDur, RequiredNote: "required for a local limit", Doc: "The period of `requests`."},
			{Key: "burst", Kind: Integer, Range: r(1, maxCount), Probe: burstProbe, Bounds: "`burst` × `per` / `requests` at most 2^60 ns", Default: "", Derived: "`requests`", Doc: "The bucket capacity of `token_bucket`, `gcra` and `leaky_bucket` (requests that may pass at once)."},
			{Key: "max_delay", Kind: Duration, MaxDuration: maxDur, Probe: `{"name":"a","algorithm":"leaky_bucket","requests":1,"per":"1s","max_delay":"1s"}`, RequiredNote: "required for `leaky_bucket`, refused otherwise", Doc: "The longest a `leaky_bucket` limit pauses a request; beyond it the request is rejected."},
			{Key: "tier", Kind: Object, Ref: "policies[].rate_limit.limits[].tier", Absent: "one set of parameters", Doc: "Per-tier parameters picked by a descriptor part's value (local limits only)."},
			{Key: "max_keys", Kind: Integer, Range: r(1, 1e6), Default: "10000", Doc: "Bounds the distinct key values kept: a state is replaced by a new key only once back at full capacity; a new key finding no room is decided by the limit's shared overflow state. Added by the project."},
		},
	},
	{
		Path:    "policies[].rate_limit.limits[].tier",
		Title:   "rate_limit.limits[].tier",
		Doc:     "The value of the `from` part names the tier; a missing or unknown value is the `default` tier, whose parameters are the limit's own.",
		Rules:   []string{"`default` must not be a key of `limits`."},
		Example: `{ "from": "header:x-user-tier", "default": "basic", "limits": { "premium": { "requests": 1000, "per": "1m", "burst": 100 } } }`,
		Wrap:    `{"policies":[{"name":"p","rate_limit":{"limits":[{"name":"a","requests":100,"per":"1m","tier":@}]}}]}`,
		Fields: []Field{
			{Key: "from", Kind: KeyPart, Required: true, Doc: "The descriptor part whose value names the tier."},
			{Key: "default", Kind: String, MaxLen: 256, Required: true, Doc: "The tier of a missing or unknown value: the limit's own parameters."},
			{Key: "limits", Kind: ObjectMap, Ref: "policies[].rate_limit.limits[].tier.limits.*", Required: true, Bounds: "tier names of 1 to 256 bytes", Doc: "Tier name → parameters."},
		},
	},
	{
		Path:    "policies[].rate_limit.limits[].tier.limits.*",
		Title:   "rate_limit.limits[].tier.limits.NAME",
		Doc:     "The parameters of one tier; the tier keeps the limit's algorithm and its rules (`burst` and `max_delay` as for the limit).",
		Example: `{ "requests": 1000, "per": "1m", "burst": 100 }`,
		Wrap:    `{"policies":[{"name":"p","rate_limit":{"limits":[{"name":"a","requests":100,"per":"1m","tier":{"from":"path","default":"basic","limits":{"gold":@}}}]}}]}`,
		Fields: []Field{
			{Key: "requests", Kind: Integer, Range: r(1, maxCount), Required: true, Doc: "Requests admitted per `per`."},
			{Key: "per", Kind: Duration, MaxDuration: maxDur, Required: true, Doc: "The period of `requests`."},
			{Key: "burst", Kind: Integer, Range: r(1, maxCount), Probe: `{"requests":4611686018427387904,"per":"1m"}`, Bounds: "`burst` × `per` / `requests` at most 2^60 ns", Derived: "the tier's `requests`", Doc: "The bucket capacity (bucket algorithms only)."},
			{Key: "max_delay", Kind: Duration, Bounds: "at most " + maxDur, Derived: "the limit's `max_delay`", Doc: "The longest pause (`leaky_bucket` only)."},
		},
	},
	{
		Path:    "policies[].rate_limit.service",
		Title:   "rate_limit.service",
		Doc:     "The service speaking envoyproxy/ratelimit's protocol, called over HTTP (`POST /json`) with one descriptor per global limit.",
		Example: `{ "cluster": "ratelimit", "authority": "ratelimit", "domain": "breakwater", "timeout": "25ms", "failure_mode": "allow" }`,
		Wrap:    `{"policies":[{"name":"p","rate_limit":{"limits":[{"name":"g","scope":"global","key":["path"],"descriptor_key":"k"}],"service":@}}]}`,
		Fields: []Field{
			{Key: "cluster", Kind: String, MaxLen: 256, Required: true, Doc: "The Envoy cluster of the service."},
			{Key: "authority", Kind: String, MaxLen: 256, Derived: "`cluster`", Doc: "The `:authority` of the call."},
			{Key: "domain", Kind: String, MaxLen: 256, Required: true, Doc: "The rate limit domain (the service's configuration)."},
			{Key: "timeout", Kind: Duration, MaxDuration: "1193h2m47.295s", Default: `"25ms"`, Bounds: "the host call takes 32-bit milliseconds", Doc: "The longest the request waits for the answer."},
			{Key: "failure_mode", Kind: Enum, Enum: []string{"allow", "deny", "local"}, Default: `"allow"`, Doc: "When the service fails: `allow` admits, `deny` rejects, `local` decides with the limit's own local parameters."},
		},
	},
	{
		Path:  "policies[].circuit_breaker",
		Title: "circuit_breaker",
		Doc:   "One breaker per policy (or per `key` value), shared by every worker. It opens when, within the window and after `minimum_calls`, the failure rate or the slow-call rate reaches its threshold, or after `consecutive_failures` failures in a row; open, it rejects with `circuit_open` for `open_duration`, then admits `half_open_calls` probes.",
		Rules: []string{
			"`minimum_calls` is at most the size of a count window (when both are set; otherwise the default adapts).",
			"`max_open_duration` is at least `open_duration` (when both are set; otherwise the default adapts).",
			"`slow_call_rate_threshold` requires `slow_call_duration`.",
			"A `failure_on` that counts nothing while `slow_call_duration` is unset is refused (the breaker could never open).",
		},
		Example: `{ "window": { "type": "time", "size": "60s", "buckets": 10 }, "minimum_calls": 20,
  "failure_rate_threshold": 0.5, "consecutive_failures": 5,
  "slow_call_duration": "2s", "slow_call_rate_threshold": 0.8,
  "open_duration": "30s", "open_backoff": 2.0, "max_open_duration": "5m", "half_open_calls": 3,
  "failure_on": { "statuses": [500, 502, 503, 504], "reset": true, "timeout": true, "connect_failure": true },
  "mode": "enforce", "max_keys": 10000 }`,
		Wrap: `{"policies":[{"name":"p","circuit_breaker":@}]}`,
		Fields: []Field{
			{Key: "key", Kind: KeyParts, Absent: "one breaker for the policy", Doc: "The descriptor parts whose values pick a breaker."},
			{Key: "window", Kind: Object, Ref: "policies[].circuit_breaker.window", Default: `{"type":"count","size":100}`, Derived: "`{\"type\":\"count\",\"size\":N}` with N = max(100, `minimum_calls`), at most 10000", Doc: "The window the rates are computed over."},
			{Key: "minimum_calls", Kind: Integer, Range: r(1, breaker.MaxMinimumCalls), Default: "20", Derived: "min(20, a count window's `size`); 20 for a time window", Bounds: "at most a count window's `size`", Doc: "Calls the window must hold before a rate can open the breaker."},
			{Key: "failure_rate_threshold", Kind: Number, Range: &Range{Lo: 0, Hi: 1, LoOpen: true}, Default: "0.5", Doc: "The failure rate that opens the breaker."},
			{Key: "consecutive_failures", Kind: Integer, Range: r(0, breaker.MaxConsecutive), Default: "0", Doc: "Failures in a row that open the breaker; 0 is off."},
			{Key: "slow_call_duration", Kind: Duration, MaxDuration: maxDur, Absent: "slow calls are not tracked", Doc: "A call at least this long (request headers to response headers) is slow (`breakwater validate` warns when it is not below `timeout.request`)."},
			{Key: "slow_call_rate_threshold", Kind: Number, Range: &Range{Lo: 0, Hi: 1, LoOpen: true}, Default: "1.0", Doc: "The slow-call rate that opens the breaker."},
			{Key: "open_duration", Kind: Duration, MaxDuration: maxDur, Probe: `{}`, Default: `"30s"`, Derived: "min(30s, `max_open_duration`)", Doc: "How long the breaker stays open before it admits probes."},
			{Key: "max_open_duration", Kind: Duration, MaxDuration: maxDur, Default: `"5m"`, Derived: "max(5m, `open_duration`)", Bounds: "at least `open_duration`", Doc: "The longest open duration that `open_backoff` can reach."},
			{Key: "open_backoff", Kind: Number, Range: r(1, 100), Default: "1.0", Doc: "Each further trip in a row multiplies the open duration by this."},
			{Key: "half_open_calls", Kind: Integer, Range: r(1, breaker.MaxHalfOpenCalls), Default: "1", Doc: "The probes admitted half-open, across all workers; all succeeding close the breaker, any failing reopens it."},
			{Key: "half_open_max_wait", Kind: Duration, MaxDuration: maxDur, Default: `"60s"`, Derived: "max(`open_duration`, the policy's `timeout.request` (or `timeout.adaptive.max` when larger), 60s when the policy sets no timeout)", Doc: "How long a probe that has not reported holds its place: after it (its worker vanished), the probes are re-armed. A probe whose stream ended without a response frees its place at once (`breakwater validate` warns when it is below the request timeout)."},
			{Key: "failure_on", Kind: Object, Ref: "policies[].circuit_breaker.failure_on", Default: `{"statuses":[500,502,503,504],"reset":true,"timeout":true,"connect_failure":true}`, Doc: "The outcomes that count as failures."},
			{Key: "mode", Kind: Enum, Enum: []string{"enforce", "observe", "forced_open", "disabled"}, Default: `"enforce"`, Doc: "`observe` counts and logs but never rejects; `forced_open` always rejects; `disabled` always admits and records nothing."},
			{Key: "max_keys", Kind: Integer, Range: r(1, 1e6), Default: "10000", Doc: "Bounds the distinct key values kept: live state (see the pattern) is never replaced; a new key finding no room is decided by the shared overflow state. Added by the project."},
		},
	},
	{
		Path:    "policies[].circuit_breaker.window",
		Title:   "circuit_breaker.window",
		Doc:     "A count window holds the last `size` calls; a time window the calls of the last `size`, split in `buckets`.",
		Rules:   []string{"`buckets` only with type `time`; `size` / `buckets` is at least 1ms."},
		Example: `{ "type": "count", "size": 100 }`,
		Wrap:    `{"policies":[{"name":"p","circuit_breaker":{"minimum_calls":1,"window":@}}]}`,
		Fields: []Field{
			{Key: "type", Kind: Enum, Enum: []string{"count", "time"}, Required: true, Doc: "`count` or `time`."},
			{Key: "size", Kind: CountOrDuration, Range: r(1, breaker.MaxWindowSize), Required: true, Bounds: "a time window: 1ms to 87600h", Doc: "Calls (an integer) for a count window, a duration for a time window."},
			{Key: "buckets", Kind: Integer, Range: r(1, breaker.MaxBuckets), Probe: `{"type":"time","size":"60s"}`, Default: "10", Derived: "min(10, `size` / 1ms)", Bounds: "time windows only", Doc: "The buckets a time window is split into."},
		},
	},
	{
		Path:    "policies[].circuit_breaker.failure_on",
		Title:   "circuit_breaker.failure_on",
		Doc:     "The outcomes that count as failures. Each absent field keeps its default.",
		Example: `{ "statuses": [500, 502, 503, 504], "reset": true, "timeout": true, "connect_failure": true }`,
		Wrap:    `{"policies":[{"name":"p","circuit_breaker":{"failure_on":@}}]}`,
		Fields: []Field{
			{Key: "statuses", Kind: StatusList, Range: r(200, 599), Default: "[500,502,503,504]", Doc: "Upstream statuses that are failures (may be empty)."},
			{Key: "reset", Kind: Boolean, Default: "true", Doc: "An upstream reset is a failure."},
			{Key: "timeout", Kind: Boolean, Default: "true", Doc: "An upstream timeout is a failure."},
			{Key: "connect_failure", Kind: Boolean, Default: "true", Doc: "A connection failure is a failure."},
		},
	},
	{
		Path:  "policies[].bulkhead",
		Title: "bulkhead",
		Doc:   "At most `max_concurrent` requests of a key in flight across all workers; beyond it a request waits in a bounded FIFO queue, or is rejected with `bulkhead_full`.",
		Rules: []string{
			"16 × `max_concurrent` + 24 × `queue.max_size` + 5 ≤ 65535 (the key's shared record): `max_concurrent` ≤ 4095 without a queue.",
		},
		Example: `{ "key": [], "max_concurrent": 20, "queue": { "max_size": 50, "max_wait": "100ms" }, "lease_ttl": "60s" }`,
		Wrap:    `{"policies":[{"name":"p","bulkhead":@}]}`,
		Fields: []Field{
			{Key: "key", Kind: KeyParts, Absent: "one bulkhead for the policy", Doc: "The descriptor parts whose values pick a bulkhead."},
			{Key: "max_concurrent", Kind: Integer, Range: r(1, 4095), Probe: `{"max_concurrent":1}`, Required: true, Bounds: "with a queue, see the rule", Doc: "Requests in flight at most."},
			{Key: "queue", Kind: Object, Ref: "policies[].bulkhead.queue", Absent: "a request beyond `max_concurrent` is rejected at once", Doc: "The waiting queue."},
			{Key: "lease_ttl", Kind: Duration, MaxDuration: maxDur, MinDuration: "1s", Default: `"60s"`, Doc: "A slot whose worker vanished is taken back after this."},
			{Key: "max_keys", Kind: Integer, Range: r(1, 1e6), Default: "10000", Doc: "Bounds the distinct key values kept: live state (see the pattern) is never replaced; a new key finding no room is decided by the shared overflow state. Added by the project."},
		},
	},
	{
		Path:    "policies[].bulkhead.queue",
		Title:   "bulkhead.queue",
		Doc:     "Requests beyond `max_concurrent` wait here, paused, and are admitted in arrival order.",
		Example: `{ "max_size": 50, "max_wait": "100ms" }`,
		Wrap:    `{"policies":[{"name":"p","bulkhead":{"max_concurrent":1,"queue":@}}]}`,
		Fields: []Field{
			{Key: "max_size", Kind: Integer, Range: r(1, 2729), Required: true, Bounds: "see the bulkhead's rule", Doc: "Waiters at most; a request beyond is rejected."},
			{Key: "max_wait", Kind: Duration, MaxDuration: maxDur, Required: true, Doc: "The longest a request waits; then it is rejected."},
		},
	},
	{
		Path:  "policies[].retry",
		Title: "retry",
		Doc:   "Envoy's router performs the retries: the filter sets `x-envoy-max-retries`, `x-envoy-retry-on`, `x-envoy-retriable-status-codes` and `x-envoy-upstream-rq-per-try-timeout-ms`.",
		Rules: []string{
			"`retriable_status_codes` is required when `retry_on` holds `retriable-status-codes`, and refused otherwise.",
			"`per_try_timeout` is at most `timeout.request`.",
		},
		Example: `{ "max_retries": 2, "retry_on": ["5xx", "reset", "connect-failure", "retriable-status-codes"],
  "retriable_status_codes": [503], "per_try_timeout": "500ms",
  "methods": ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"], "budget": { "ratio": 0.2, "min_per_second": 5 } }`,
		Wrap: `{"policies":[{"name":"p","retry":@}]}`,
		Fields: []Field{
			{Key: "max_retries", Kind: Integer, Range: r(0, 10), Default: "1", Doc: "Retries per request at most (Envoy's default is 1)."},
			{Key: "retry_on", Kind: EnumList, Probe: `{"max_retries":2}`, Enum: []string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
				"envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes", "http3-post-connect-failure",
				"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"},
				Default: `["5xx","reset","connect-failure"]`, Doc: "Envoy's retry-on conditions (the last five are gRPC's)."},
			{Key: "retriable_status_codes", Kind: StatusList, Range: r(200, 599), RequiredNote: "required (non-empty) with `retriable-status-codes`", Doc: "The statuses `retriable-status-codes` retries."},
			{Key: "per_try_timeout", Kind: Duration, MaxDuration: maxDur, Absent: "the route's", Doc: "The timeout of each try."},
			{Key: "methods", Kind: MethodList, Default: `["GET","HEAD","OPTIONS","PUT","DELETE"]`, Doc: "The methods that get retries; the others get `x-envoy-max-retries: 0`."},
			{Key: "budget", Kind: Object, Ref: "policies[].retry.budget", Absent: "no budget", Doc: "Bounds retries across all workers."},
		},
	},
	{
		Path:    "policies[].retry.budget",
		Title:   "retry.budget",
		Doc:     "Retries across all workers stay within `ratio` × requests + `min_per_second` over a sliding second.",
		Rules:   []string{"`ratio` and `min_per_second` are not both 0."},
		Example: `{ "ratio": 0.2, "min_per_second": 5 }`,
		Wrap:    `{"policies":[{"name":"p","retry":{"budget":@}}]}`,
		Fields: []Field{
			{Key: "ratio", Kind: Number, Range: r(0, retry.MaxRatio), Default: "0.2", Doc: "Retries per request."},
			{Key: "min_per_second", Kind: Integer, Range: r(0, 1e6), Default: "5", Doc: "Retries per second always allowed."},
		},
	},
	{
		Path:  "policies[].timeout",
		Title: "timeout",
		Doc:   "At least one of `request`, `deadline`, `adaptive`.",
		Rules: []string{"`adaptive` requires `request` (it applies until `min_samples` are seen)."},
		Example: `{ "request": "2s", "deadline": { "propagate": true, "min_remaining": "10ms" },
  "adaptive": { "quantile": 0.95, "multiplier": 1.2, "extra": "20ms", "min": "50ms", "max": "5s", "min_samples": 20 } }`,
		Wrap: `{"policies":[{"name":"p","timeout":@}]}`,
		Fields: []Field{
			{Key: "request", Kind: Duration, MaxDuration: maxDur, Absent: "the route's", Doc: "The upstream request timeout."},
			{Key: "deadline", Kind: Object, Ref: "policies[].timeout.deadline", Absent: "no deadline handling", Doc: "Deadline propagation and checking."},
			{Key: "adaptive", Kind: Object, Ref: "policies[].timeout.adaptive", Absent: "a fixed timeout", Doc: "A timeout learned from observed latencies."},
		},
	},
	{
		Path:    "policies[].timeout.deadline",
		Title:   "timeout.deadline",
		Doc:     "A request whose remaining deadline is below `min_remaining` is rejected with `deadline_exceeded`. A budget header that cannot be parsed (e.g. `grpc-timeout` with more than 8 digits) is ignored and counted in `timeout.deadline.invalid_total`; a budget beyond the range of a duration is clamped, then bounded as `max` says.",
		Example: `{ "propagate": true, "min_remaining": "10ms" }`,
		Wrap:    `{"policies":[{"name":"p","timeout":{"deadline":@}}]}`,
		Fields: []Field{
			{Key: "propagate", Kind: Boolean, Default: "false", Doc: "Pass the remaining deadline upstream."},
			{Key: "min_remaining", Kind: Duration, MaxDuration: maxDur, ZeroOK: true, Default: `"0s"`, Doc: "The least remaining time a request needs to be sent."},
			{Key: "max", Kind: Duration, MaxDuration: maxDur, Default: `"15s"`, Doc: "Without `request` or `adaptive`, the longest upstream timeout a caller's budget (`x-envoy-expected-rq-timeout-ms`, `grpc-timeout`) can produce: a caller only ever shortens. With `request` or `adaptive`, that timeout is the bound. 15s is Envoy's default route timeout."},
		},
	},
	{
		Path:    "policies[].timeout.adaptive",
		Title:   "timeout.adaptive",
		Doc:     "The timeout is `quantile` of the observed latencies × `multiplier` + `extra`, clamped to [`min`, `max`]; `timeout.request` applies until `min_samples` are seen.",
		Rules:   []string{"`max` is at least `min`."},
		Example: `{ "quantile": 0.95, "multiplier": 1.2, "extra": "20ms", "min": "50ms", "max": "5s", "min_samples": 20 }`,
		Wrap:    `{"policies":[{"name":"p","timeout":{"request":"1s","adaptive":@}}]}`,
		Fields: []Field{
			{Key: "quantile", Kind: Number, Range: &Range{Lo: 0, Hi: 1, LoOpen: true}, Default: "0.95", Doc: "The latency quantile."},
			{Key: "multiplier", Kind: Number, Range: &Range{Lo: 0, Hi: 100, LoOpen: true}, Default: "1.0", Doc: "Multiplies the quantile."},
			{Key: "extra", Kind: Duration, MaxDuration: maxDur, ZeroOK: true, Default: `"0s"`, Doc: "Added to the product."},
			{Key: "min", Kind: Duration, MaxDuration: maxDur, Probe: `{"min":"1ms","max":"87600h"}`, Required: true, Doc: "The shortest timeout."},
			{Key: "max", Kind: Duration, MaxDuration: maxDur, Required: true, Doc: "The longest timeout."},
			{Key: "min_samples", Kind: Integer, Range: r(1, 1e6), Default: "20", Doc: "Latencies observed before the adaptive timeout applies."},
		},
	},
	{
		Path:  "policies[].fallback",
		Title: "fallback",
		Doc:   "For the reasons in `on`, the local response uses `status`, `headers` and `body`, or a stale copy of the last good response.",
		Rules: []string{
			"At least one of `status`, `headers`, `body`, `stale`.",
			"Each reason must be one the policy can produce: `rate_limited` needs `rate_limit`; `circuit_open` and `upstream_failure` need `circuit_breaker`; `bulkhead_full` needs `bulkhead`; `deadline_exceeded` needs `timeout.deadline`; `fault_abort` needs `fault.abort`.",
		},
		Example: `{ "on": ["circuit_open", "upstream_failure"], "status": 503,
  "headers": { "content-type": "application/json" }, "body": "{\"degraded\":true}",
  "stale": { "max_age": "5m", "max_body_bytes": 65536 } }`,
		Wrap: `{"policies":[{"name":"p","circuit_breaker":{},"fallback":@}]}`,
		Fields: []Field{
			{Key: "on", Kind: EnumList, Enum: []string{"rate_limited", "circuit_open", "bulkhead_full", "deadline_exceeded", "fault_abort", "upstream_failure"}, Required: true, Doc: "The reasons the fallback applies to."},
			{Key: "status", Kind: Integer, Range: r(200, 599), Absent: "the reason's status (429 rate_limited, 504 deadline_exceeded, 503 the others)", Doc: "The status of the local response."},
			{Key: "headers", Kind: StringMap, Absent: "none", Bounds: "at most 64; not `x-breakwater-*`, `content-length`, `transfer-encoding`; values without CR, LF or NUL", Doc: "Headers of the local response (names case-insensitive)."},
			{Key: "body", Kind: String, Absent: "an empty body", Doc: "The body of the local response."},
			{Key: "stale", Kind: Object, Ref: "policies[].fallback.stale", Absent: "no stale serving", Doc: "Serve the last good (200) GET response of the same path instead."},
		},
	},
	{
		Path:    "policies[].fallback.stale",
		Title:   "fallback.stale",
		Doc:     "The last good response per cache key (`:authority`, `:path` with its query, then the values of `key`; 64 entries per policy) is kept in shared data and served, with its representation headers (`content-type`, `content-encoding`, `content-language`, `content-location`, `etag`, `last-modified`, `vary`), `x-breakwater-stale: true` and `age`. Nothing is kept when the response has `Cache-Control` `private`, `no-store` or `no-cache`, `Pragma: no-cache`, `Set-Cookie` or `Vary: *`; when its `Vary` names a header that `key` does not hold as `header:<name>`; or when the request carried `Authorization` (`Cookie`) and `key` does not hold `header:authorization` (`header:cookie`). Shared data: at most 64 × (max_body_bytes + 4363) bytes.",
		Example: `{ "max_age": "5m", "max_body_bytes": 65536, "key": ["header:authorization"] }`,
		Wrap:    `{"max_shared_bytes":1099511627776,"policies":[{"name":"p","circuit_breaker":{},"fallback":{"on":["circuit_open"],"stale":@}}]}`,
		Fields: []Field{
			{Key: "max_age", Kind: Duration, MaxDuration: maxDur, Required: true, Doc: "A copy older than this is not served."},
			{Key: "max_body_bytes", Kind: Integer, Range: r(1, 16<<20), Default: "65536", Doc: "A larger body is not kept."},
			{Key: "key", Kind: KeyParts, Absent: "the cache key is `:authority` and `:path` only (no request with `Authorization` or `Cookie` is kept)", Doc: "Descriptor parts added to the cache key: a copy is served only to requests with the same values. Opting in to users' copies: `header:authorization`, `header:cookie`."},
		},
	},
	{
		Path:    "policies[].fault",
		Title:   "fault",
		Doc:     "Fault injection, for testing the other patterns. At least one of `abort` and `delay`.",
		Example: `{ "abort": { "percent": 5, "status": 503 }, "delay": { "percent": 10, "duration": "200ms" }, "only_with_header": "x-breakwater-fault" }`,
		Wrap:    `{"policies":[{"name":"p","fault":@}]}`,
		Fields: []Field{
			{Key: "abort", Kind: Object, Ref: "policies[].fault.abort", Absent: "no abort", Doc: "Reject some requests with `fault_abort`."},
			{Key: "delay", Kind: Object, Ref: "policies[].fault.delay", Absent: "no delay", Doc: "Delay some requests."},
			{Key: "only_with_header", Kind: HeaderName, Absent: "every request", Doc: "Inject only into requests that carry this header."},
		},
	},
	{
		Path:    "policies[].fault.abort",
		Title:   "fault.abort",
		Example: `{ "percent": 5, "status": 503 }`,
		Wrap:    `{"policies":[{"name":"p","fault":{"abort":@}}]}`,
		Fields: []Field{
			{Key: "percent", Kind: Number, Range: r(0, 100), Required: true, Doc: "The share of requests aborted."},
			{Key: "status", Kind: Integer, Range: r(200, 599), Default: "503", Doc: "The status of the abort."},
		},
	},
	{
		Path:    "policies[].fault.delay",
		Title:   "fault.delay",
		Example: `{ "percent": 10, "duration": "200ms" }`,
		Wrap:    `{"policies":[{"name":"p","fault":{"delay":@}}]}`,
		Fields: []Field{
			{Key: "percent", Kind: Number, Range: r(0, 100), Required: true, Doc: "The share of requests delayed."},
			{Key: "duration", Kind: Duration, MaxDuration: maxDur, Required: true, Doc: "The delay."},
		},
	},
	{
		Path:  "policies[].dead_letter",
		Title: "dead_letter",
		Doc:   "A request that failed for good (the reasons in `on`) is recorded: one versioned JSON envelope (request line, headers with `redact_headers` redacted, body up to `max_body_bytes`) sent by HTTP POST to `cluster` from the plugin's tick. The records in flight are bounded (64 records, 4 MiB per VM); beyond, a record is dropped and counted.",
		Rules: []string{
			"Each reason in `on` but `upstream_failure` must be one the policy can produce (`circuit_open` needs `circuit_breaker`, `bulkhead_full` needs `bulkhead`, `deadline_exceeded` needs `timeout.deadline`).",
		},
		Example: `{ "cluster": "dead-letters", "on": ["upstream_failure", "circuit_open"], "methods": ["POST", "PUT"],
  "max_body_bytes": 65536, "redact_headers": ["authorization", "cookie"], "timeout": "50ms" }`,
		Wrap: `{"policies":[{"name":"p","circuit_breaker":{},"dead_letter":@}]}`,
		Fields: []Field{
			{Key: "cluster", Kind: String, MaxLen: deadletter.MaxNameLen, Required: true, Doc: "The Envoy cluster the records are sent to."},
			{Key: "on", Kind: EnumList, Enum: deadletter.Reasons, Default: js(deadletter.DefaultOn), Doc: "The reasons that make a record: `upstream_failure` (the final response, after retries, counts as a failure under `failure_on`, or the default one), or a rejection by the filter."},
			{Key: "methods", Kind: MethodList, Default: js(deadletter.DefaultMethods), Doc: "The request methods recorded."},
			{Key: "max_body_bytes", Kind: Integer, Range: r(1, deadletter.MaxMaxBodyBytes), Default: js(deadletter.DefaultMaxBodyBytes), Doc: "A longer request body is recorded without its body, marked truncated."},
			{Key: "redact_headers", Kind: HeaderList, Default: js(deadletter.DefaultRedactHeaders), Doc: "Request headers whose values are replaced in a record (`[]` redacts nothing)."},
			{Key: "timeout", Kind: Duration, MinDuration: deadletter.MinTimeout.String(), MaxDuration: deadletter.MaxTimeout.String(), Default: js(deadletter.DefaultTimeout.String()), Doc: "The timeout of the call to `cluster`."},
		},
	},
}

// Lookup returns the block at path, or nil.
func Lookup(path string) *Block {
	for i := range Blocks {
		if Blocks[i].Path == path {
			return &Blocks[i]
		}
	}
	return nil
}
