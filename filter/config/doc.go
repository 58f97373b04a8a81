// Package config parses and validates the Breakwater plugin configuration
// (the reference is docs/configuration.md) into typed Go values. It is pure
// Go on the standard library and the patterns/ packages: the plugin
// (filter/) and the command-line tool (cmd/breakwater validate) run the
// same code, so validate accepts exactly the configurations the plugin
// starts with.
//
// # Parsing
//
// Parse reads the document in two steps.
//
//  1. A JSON tree is built with internal/minijson's tokenizer (encoding/json's
//     Decoder.Token, without reflection), after a UTF-8
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
// # One home per setting
//
// A pattern's block is decoded straight into the pattern's own Settings
// (CircuitBreaker embeds breaker.Settings, Limit ratelimit.Settings,
// Bulkhead bulkhead.Settings, Fault fault.Settings; Timeout.Adaptive is a
// timeout.Adaptive and Retry.Budget a retry.Settings), and the pattern's
// Normalize applies its defaults, its ranges and its cross-field rules:
// the same call a library user of patterns/... makes. Its error, a
// *field.Error, is reported at the JSON path of the field it names, and a
// contradiction between two explicit values names both paths:
//
//	breakwater: config: policies[0].circuit_breaker.max_open_duration: must be at least policies[0].circuit_breaker.open_duration (1m0s), got 10s
//
// This package keeps only the rules that exist because of the format:
// types and units (integers written as integers, Go duration strings),
// signs (a pattern's 0 means "default", so an explicit 0 where the pattern
// needs a positive value is refused here: "must be positive"), every
// duration at most MaxDuration (87600h) so that no arithmetic downstream
// can overflow, which keys a block allows and requires (burst only for
// token_bucket, gcra and leaky_bucket, max_delay required for leaky_bucket
// and refused elsewhere, slow_call_rate_threshold only with
// slow_call_duration, a global limit's local parameters only under
// failure_mode "local", adaptive only with request), key syntax, matchers,
// names, and the blocks the configuration owns itself (rate_limit's
// headers, status and service, failure_on, retry, timeout.request and
// deadline, fallback, max_keys, lease_ttl at least 1s because the plugin
// renews leases from its tick).
//
// Defaults never make an explicit value invalid: the ones that depend on
// another field derive from it (listed in docs/configuration.md and in the
// patterns' Settings): max_open_duration = max(5m, open_duration);
// open_duration = min(30s, max_open_duration); minimum_calls = min(20,
// count window size); count window size = max(100, minimum_calls) (at most
// 10000); time window buckets = min(10, size / 1ms); half_open_max_wait =
// max(open_duration, the policy's request timeout (or timeout.adaptive.max
// when larger), 60s when the policy sets none); burst = requests (a tier's
// burst its own requests, its max_delay the limit's); adaptive min =
// min(1ms, max); each retry budget field on its own (ratio 0.2,
// min_per_second 5); service authority = cluster.
//
// Header names are lower-cased, methods upper-cased, path_regex compiled
// once as ^(?:EXPR)$, key parts turned into []KeyPart.
//
// Local response statuses (see (*Policy).RejectStatus): 429 for
// rate_limited, 504 for deadline_exceeded, 503 for the others, overridden
// by rate_limit.status, fault.abort.status and a covering fallback.status.
//
// Load is Parse with a plain error: there is no gate, every block of the
// configuration is enforced.
//
// Concurrency: Parse and Load are safe for concurrent use; a *Config is
// read-only after Parse (its methods do not modify it). Memory: bounded by
// the document size (at most 4 MiB in, a small multiple of it in the tree).
package config
