// Package config parses and validates the Breakwater plugin configuration
// (the contract is docs/configuration.md) into typed Go values. It is pure Go on
// the standard library: the plugin (filter/) and the command-line tool
// (cmd/breakwater validate) run the same code.
//
// # Parsing
//
// Parse reads the document in two steps.
//
//  1. A JSON tree is built with encoding/json's tokenizer, after a UTF-8
//     byte-order mark if the document starts with one. It rejects: an
//     empty document, a document larger than MaxDocumentBytes (4 MiB),
//     invalid UTF-8, invalid JSON, nesting deeper than MaxDepth (32), a
//     duplicate key in one object, a top-level value that is not an object,
//     and anything but white space after the object. Object keys keep their
//     order and numbers their literal text.
//  2. Typed decoders walk the tree, one per block. Each object's keys are
//     checked first (the first unknown key in document order is the error;
//     a close allowed key is suggested), then its fields in the contract's
//     order, then the combinations. JSON null is a wrong type wherever it
//     appears: leave a field out to get its default.
//
// Only the first error is reported, as an *Error whose Error() is the one
// line the plugin logs:
//
//	breakwater: config: policies[1].circuit_breaker.failure_rate_threshold: must be in (0,1], got 1.5
//
// Paths: object keys joined with ".", array elements as [i], keys outside
// [A-Za-z0-9_-] quoted in brackets (fallback.headers["x y"]); the document
// root is "$". Values quoted in reasons are cut to 64 bytes.
//
// Types: integers must be written as integers (1.0 and 1e3 are refused);
// durations are Go duration strings ("250ms", "2s", "1m", "1h") and are
// positive unless said otherwise; rates and thresholds are JSON numbers.
// Parse never panics (a fuzz target checks it; a recover in Parse is a
// last safety net that turns a bug into an error).
//
// # Values and defaults
//
// Each block's defaults are applied in one function (defaultRateLimit,
// defaultLimit, defaultCircuitBreaker, ...) before its fields are read.
// Header names are lower-cased, methods upper-cased, path_regex compiled
// once as ^(?:EXPR)$, key parts turned into []KeyPart.
//
// Top level:
//   - namespace: default "breakwater"; [a-z0-9_-]+, at most 64 bytes.
//   - policies: required, at least one. Policy names are required, unique,
//     [a-z0-9_-]+ (at most 64 bytes). A policy after one without a match
//     is unreachable, which is an error.
//
// match (absent or {} = every request): at most one of path_prefix,
// path_exact, path_regex; prefix and exact start with "/" and contain no
// "?" or "#"; path_regex is RE2 matched against the whole path; the query
// string is ignored. methods: non-empty, no duplicates, compared
// case-insensitively. authority: compared case-insensitively; without a
// port it matches any port. headers: non-empty list of {name, exact |
// prefix | present: true} (exactly one of the three; present: false is
// refused). See (*Match).Matches.
//
// Key parts ("key", "tier.from"): header:NAME (lower-cased token), path,
// method, authority, remote_address, property:a.b.c (segments of
// [A-Za-z0-9_-]), const:VALUE (1..256 bytes). At most 16 parts, no
// duplicates. BuildKey joins the values as netstrings ("5:alice,3:GET,"),
// an encoding no two different value lists share.
//
// rate_limit:
//   - limits: required, at least one; limit names required, unique in the
//     policy, [a-z0-9_-]+.
//   - headers: default true. status: default 429 (200..599).
//   - per limit: scope default "local"; algorithm default "token_bucket";
//     requests required (1..1e9); per required (at least 1ms, and at most
//     one request per nanosecond); burst default = requests, only for
//     token_bucket, gcra and leaky_bucket (refused for fixed_window and
//     sliding_window); max_delay required for leaky_bucket (DECISION: a
//     shaper without a bound on the delay is refused; use gcra for a pure
//     limiter), refused for the other algorithms; max_keys default 10000
//     (1..1e6).
//   - tier: from (a key part), default (tier name) and limits (non-empty
//     object tier name -> {requests, per, burst, max_delay}) are required.
//     Tier entries take the same parameters as the limit's algorithm
//     (burst refused for window algorithms, max_delay only for
//     leaky_bucket); requests and per are required, burst defaults to the
//     tier's requests, max_delay to the limit's. The default tier must not
//     appear in limits: its parameters are the limit's own.
//   - scope "global" requires rate_limit.service, descriptor_key and a
//     non-empty key (the descriptor value); tier is refused. DECISION on
//     failure_mode "local": it means the global limit is decided with its
//     own local parameters while the service fails, so under "local" a
//     global limit requires requests and per (algorithm, burst, max_delay,
//     max_keys as for a local limit); under "allow" or "deny" those fields
//     are refused (the limit lives in the service's config).
//   - service: cluster and domain required; authority default = cluster;
//     timeout default 25ms; failure_mode default "allow" (allow | deny |
//     local). A service without any global limit is an error.
//
// circuit_breaker: window default {type count, size 100}; a count window's
// size is an integer 1..100000 and takes no buckets; a time window's size is
// a duration, buckets default 10 (1..1000), each bucket at least 1ms.
// minimum_calls default 20 (1..1e6, at most the size of a count window);
// failure_rate_threshold default 0.5, in (0,1]; consecutive_failures
// default 0 = off (0..1e6); slow_call_duration absent = slow calls not
// tracked; slow_call_rate_threshold default 1.0, in (0,1], only with
// slow_call_duration; open_duration default 30s; max_open_duration default
// 5m, at least open_duration; open_backoff default 1.0, in [1,100];
// half_open_calls default 1 (1..64); failure_on default statuses
// [500,502,503,504] with reset, timeout and connect_failure true, each absent
// field of a present failure_on keeping its default, statuses 200..599 with
// no duplicates (may be empty, but a failure_on that counts nothing while
// slow calls are not tracked is an error); mode default "enforce"
// (enforce | observe | forced_open | disabled); max_keys default 10000
// (1..1e6) — max_keys is a field added by the project.
//
// bulkhead: max_concurrent required (1..1e6); queue absent = reject at
// once, else max_size (1..1e6) and max_wait both required; the key's
// shared record, 16 × max_concurrent + 24 × max_size + 5 bytes, must fit in
// 65535 (so max_concurrent <= 4095 without a queue); lease_ttl
// default 60s, at least 1s; max_keys default 10000 (added by the project).
//
// retry: max_retries default 1 (Envoy's default), 0..10; retry_on default
// ["5xx", "reset", "connect-failure"], non-empty, no duplicates, each an
// Envoy retry-on value (5xx, gateway-error, reset, reset-before-request,
// connect-failure, envoy-ratelimited, retriable-4xx, refused-stream,
// retriable-status-codes, http3-post-connect-failure, and the gRPC ones
// cancelled, deadline-exceeded, internal, resource-exhausted, unavailable);
// retriable_status_codes required with "retriable-status-codes" and refused
// without it; per_try_timeout optional, at most timeout.request; methods
// default [GET, HEAD, OPTIONS, PUT, DELETE]; budget absent = no budget,
// else ratio default 0.2 in [0,1], min_per_second default 5 (0..1e6), not
// both 0.
//
// timeout: at least one of request, deadline, adaptive. deadline:
// propagate default false, min_remaining default 0 (may be 0). adaptive:
// quantile default 0.95 in (0,1), multiplier default 1.0 in (0,100], extra
// default 0, min and max required (max at least min), min_samples default
// 20; adaptive requires request.
//
// fallback: on required, non-empty, no duplicates, each a reason the
// policy can produce (rate_limited needs rate_limit; circuit_open and
// upstream_failure need circuit_breaker; bulkhead_full needs bulkhead;
// deadline_exceeded needs timeout.deadline; fault_abort needs fault.abort).
// At least one of status (200..599; absent = the reason's status),
// headers (lower-cased names, no x-breakwater-*, content-length or
// transfer-encoding, no CR/LF/NUL in values), body, stale. stale: max_age
// required; max_body_bytes default 65536 (1..16 MiB).
//
// fault: abort, delay or both. abort: percent required in [0,100], status
// default 503. delay: percent required in [0,100], duration required.
// only_with_header: a header name, lower-cased.
//
// Local response statuses (see (*Policy).RejectStatus): 429 for
// rate_limited, 504 for deadline_exceeded, 503 for the others, overridden
// by rate_limit.status, fault.abort.status and a covering fallback.status.
//
// # The not-implemented gate
//
// Parse accepts the whole contract. Load (what the plugin and the validate
// command call) adds a gate: a configuration that uses a feature whose key
// is in NotImplemented fails with "<path>: not implemented yet", e.g.
//
//	breakwater: config: policies[0].circuit_breaker: not implemented yet
//
// so nothing configured is ever silently ignored. The keys, and when a
// configuration uses each, are listed with featureKeys in gate.go; the team
// deletes a key from NotImplemented when its enforcement lands. A
// feature on by default counts as used: while "rate_limit.headers" is
// gated, a rate limit needs "headers": false to pass Load.
//
// Concurrency: Parse and Load are safe for concurrent use; a *Config is
// read-only after Parse (its methods do not modify it). NotImplemented is
// only read. Memory: bounded by the document size (at most 4 MiB in, a
// small multiple of it in the tree).
package config
