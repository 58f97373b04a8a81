package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// pol wraps policy fields into a one-policy document named "p".
func pol(fields string) string {
	return `{"policies":[{"name":"p",` + fields + `}]}`
}

// rl wraps limits (and optional extra rate_limit fields) into a policy.
func rl(limits string, extra ...string) string {
	s := `"rate_limit":{"limits":[` + limits + `]`
	for _, e := range extra {
		s += "," + e
	}
	return pol(s + "}")
}

const svc = `"service":{"cluster":"rls","domain":"d"}`

func manyHeaders(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"h%d":"v"`, i)
	}
	return b.String()
}

type invalidCase struct {
	name string
	in   string
	want string // the full error line
}

var invalidCases = []invalidCase{
	// The document.
	{"empty", ``, `$: empty document, want a JSON object`},
	{"blank", " \n\t ", `$: empty document, want a JSON object`},
	{"array root", `[]`, `$: must be an object, got array`},
	{"null root", `null`, `$: must be an object, got null`},
	{"string root", `"x"`, `$: must be an object, got string`},
	{"number root", `12`, `$: must be an object, got number`},
	{"no policies", `{}`, `policies: required`},
	{"two objects", `{} {}`, `$: unexpected data after the top-level object at line 1, column 4`},
	{"trailing junk", `{"policies":[{"name":"a"}]} x`, `$: unexpected data after the top-level object at line 1, column 29`},
	{"truncated", `{"policies":`, `policies: invalid JSON: unexpected end of input`},
	{"truncated array", `{"policies":[{"name":"a"}`, `policies: invalid JSON: unexpected end of input`},
	{"trailing comma", `{"policies":[{"name":"a",}]}`, `policies[0]: invalid JSON at line 1, column 26: invalid character '}' looking for beginning of object key string`},
	{"missing comma", `{"policies":[1 2]}`, `policies[1]: invalid JSON at line 1, column 16: invalid character '2' after array element`},
	{"NaN", `{"policies":NaN}`, `policies: invalid JSON at line 1, column 13: invalid character 'N' looking for beginning of value`},
	{"single quotes", `{'policies':1}`, `$: invalid JSON at line 1, column 2: invalid character '\'' looking for beginning of object key string`},
	{"bad escape", `{"namespace":"\q"}`, `namespace: invalid JSON at line 1, column 16: invalid character 'q' in string escape code`},
	{"multi-line", "{\n  \"policies\": [\n    {\"name\": \"a\" \"b\"}\n  ]\n}", `policies[0]: invalid JSON at line 3, column 18: invalid character '"' after object key:value pair`},
	{"control char in string", "{\"namespace\":\"a\tb\"}", `namespace: invalid JSON at line 1, column 16: invalid character '\t' in string literal`},
	{"duplicate key", `{"policies":[],"policies":[]}`, `policies: duplicate key`},
	{"duplicate nested key", pol(`"bulkhead":{"max_concurrent":1,"max_concurrent":2}`), `policies[0].bulkhead.max_concurrent: duplicate key`},
	{"invalid utf8", "{\"namespace\":\"\xff\"}", `$: not valid UTF-8`},
	{"too deep", `{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, `x` + strings.Repeat("[0]", 31) + `: nested deeper than 32 levels`},
	{"too large", `{"namespace":"` + strings.Repeat("a", MaxDocumentBytes) + `"}`, `$: document too large: 4194320 bytes, at most 4194304`},
	{"too many values", `{"x":[` + strings.Repeat("0,", MaxValues) + `0]}`, `x[99998]: document has more than 100000 JSON values`},
	{"long key", `{"` + strings.Repeat("k", 100) + `":1}`, `["` + strings.Repeat("k", 64) + `..."]: unknown key`},
	{"unknown top key", `{"polices":[]}`, `polices: unknown key (did you mean "policies"?)`},
	{"unknown far key", `{"zzz":1,"policies":[]}`, `zzz: unknown key`},
	{"null namespace", `{"namespace":null,"policies":[]}`, `namespace: must be a string, got null`},
	{"bad namespace", `{"namespace":"Bad","policies":[]}`, `namespace: must match [a-z0-9_-]+ (at most 64 bytes), got "Bad"`},
	{"empty namespace", `{"namespace":"","policies":[]}`, `namespace: must match [a-z0-9_-]+ (at most 64 bytes), got ""`},
	{"policies object", `{"policies":{}}`, `policies: must be an array, got object`},
	{"policies empty", `{"policies":[]}`, `policies: must not be empty`},
	{"policy number", `{"policies":[1]}`, `policies[0]: must be an object, got number`},
	{"no name", `{"policies":[{}]}`, `policies[0].name: required`},
	{"name number", `{"policies":[{"name":1}]}`, `policies[0].name: must be a string, got number`},
	{"name upper", `{"policies":[{"name":"Orders"}]}`, `policies[0].name: must match [a-z0-9_-]+ (at most 64 bytes), got "Orders"`},
	{"name dot", `{"policies":[{"name":"a.b"}]}`, `policies[0].name: must match [a-z0-9_-]+ (at most 64 bytes), got "a.b"`},
	{"name long", `{"policies":[{"name":"` + strings.Repeat("a", 65) + `"}]}`, `policies[0].name: must match [a-z0-9_-]+ (at most 64 bytes), got "` + strings.Repeat("a", 64) + `..."`},
	{"name control", `{"policies":[{"name":"a\nb"}]}`, `policies[0].name: must match [a-z0-9_-]+ (at most 64 bytes), got "a\nb"`},
	{"duplicate policy", `{"policies":[{"name":"a","match":{"path_exact":"/x"}},{"name":"a"}]}`, `policies[1].name: duplicate policy name "a", already used by policies[0]`},
	{"unreachable", `{"policies":[{"name":"a"},{"name":"b"}]}`, `policies[1]: unreachable: policies[0] has no match condition and takes every request`},
	{"unreachable empty match", `{"policies":[{"name":"a","match":{}},{"name":"b"}]}`, `policies[1]: unreachable: policies[0] has no match condition and takes every request`},
	{"policy typo", pol(`"circuit_braker":{}`), `policies[0].circuit_braker: unknown key (did you mean "circuit_breaker"?)`},
	{"odd key", pol(`"x y":1`), `policies[0]["x y"]: unknown key`},
	{"block not object", pol(`"retry":true`), `policies[0].retry: must be an object, got boolean`},

	// match
	{"match array", pol(`"match":[]`), `policies[0].match: must be an object, got array`},
	{"two paths", pol(`"match":{"path_prefix":"/a","path_regex":"/b"}`), `policies[0].match.path_regex: at most one of path_prefix, path_exact, path_regex (path_prefix is already set)`},
	{"three paths", pol(`"match":{"path_exact":"/a","path_prefix":"/b","path_regex":"/c"}`), `policies[0].match.path_prefix: at most one of path_prefix, path_exact, path_regex (path_exact is already set)`},
	{"bad regex", pol(`"match":{"path_regex":"/a("}`), `policies[0].match.path_regex: invalid regular expression: missing closing ) "/a("`},
	{"regex breakout", pol(`"match":{"path_regex":"/a)|(/b"}`), `policies[0].match.path_regex: invalid regular expression: unexpected ) "/a)|(/b"`},
	{"empty regex", pol(`"match":{"path_regex":""}`), `policies[0].match.path_regex: must not be empty`},
	{"regex repeat", pol(`"match":{"path_regex":"a{1001}"}`), `policies[0].match.path_regex: invalid regular expression: invalid repeat count "{1001}"`},
	{"prefix no slash", pol(`"match":{"path_prefix":"orders"}`), `policies[0].match.path_prefix: must start with "/", got "orders"`},
	{"exact query", pol(`"match":{"path_exact":"/a?b=1"}`), `policies[0].match.path_exact: must not contain "?" or "#" (the query string is ignored), got "/a?b=1"`},
	{"prefix space", pol(`"match":{"path_prefix":"/a b"}`), `policies[0].match.path_prefix: must not contain spaces or control characters, got "/a b"`},
	{"methods empty", pol(`"match":{"methods":[]}`), `policies[0].match.methods: must not be empty`},
	{"methods dup", pol(`"match":{"methods":["GET","get"]}`), `policies[0].match.methods[1]: duplicate method "GET"`},
	{"methods bad", pol(`"match":{"methods":["G T"]}`), `policies[0].match.methods[0]: must be an HTTP method, got "G T"`},
	{"methods many", pol(`"match":{"methods":["A0"` + strings.Repeat(`,"A"`, 64) + `]}`), `policies[0].match.methods: at most 64 methods, got 65`},
	{"methods number", pol(`"match":{"methods":[1]}`), `policies[0].match.methods[0]: must be a string, got number`},
	{"methods string", pol(`"match":{"methods":"GET"}`), `policies[0].match.methods: must be an array, got string`},
	{"authority empty", pol(`"match":{"authority":""}`), `policies[0].match.authority: must not be empty`},
	{"authority path", pol(`"match":{"authority":"a.com/x"}`), `policies[0].match.authority: must be a host[:port], got "a.com/x"`},
	{"headers empty", pol(`"match":{"headers":[]}`), `policies[0].match.headers: must not be empty`},
	{"header no cond", pol(`"match":{"headers":[{"name":"x"}]}`), `policies[0].match.headers[0]: needs one of exact, prefix, present`},
	{"header two conds", pol(`"match":{"headers":[{"name":"x","exact":"a","prefix":"b"}]}`), `policies[0].match.headers[0].prefix: at most one of exact, prefix, present (exact is already set)`},
	{"header present false", pol(`"match":{"headers":[{"name":"x","present":false}]}`), `policies[0].match.headers[0].present: must be true (to match any value); false is not supported`},
	{"header no name", pol(`"match":{"headers":[{"exact":"a"}]}`), `policies[0].match.headers[0].name: required`},
	{"header bad name", pol(`"match":{"headers":[{"name":"x y","exact":"a"}]}`), `policies[0].match.headers[0].name: must be a header name (an RFC 9110 token, at most 256 bytes), got "x y"`},
	{"header value crlf", pol(`"match":{"headers":[{"name":"x","exact":"a\r\nb"}]}`), `policies[0].match.headers[0].exact: must not contain CR, LF or NUL, got "a\r\nb"`},
	{"headers many", pol(`"match":{"headers":[` + strings.Repeat(`{"name":"x","present":true},`, 64) + `{"name":"x","present":true}]}`), `policies[0].match.headers: at most 64 header conditions, got 65`},
	{"header unknown", pol(`"match":{"headers":[{"name":"x","regex":"a"}]}`), `policies[0].match.headers[0].regex: unknown key`},
	{"match unknown", pol(`"match":{"path":"/a"}`), `policies[0].match.path: unknown key`},

	// rate_limit
	{"rl empty", pol(`"rate_limit":{}`), `policies[0].rate_limit.limits: required`},
	{"rl limits empty", rl(``), `policies[0].rate_limit.limits: must not be empty`},
	{"rl limit not object", rl(`"x"`), `policies[0].rate_limit.limits[0]: must be an object, got string`},
	{"rl no name", rl(`{"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].name: required`},
	{"rl dup name", rl(`{"name":"a","requests":1,"per":"1s"},{"name":"a","requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[1].name: duplicate limit name "a", already used by policies[0].rate_limit.limits[0]`},
	{"rl requests zero", rl(`{"name":"a","requests":0,"per":"1s"}`), `policies[0].rate_limit.limits[0].requests: must be positive, got 0`},
	{"rl requests negative", rl(`{"name":"a","requests":-5,"per":"1s"}`), `policies[0].rate_limit.limits[0].requests: must be positive, got -5`},
	{"rl requests fraction", rl(`{"name":"a","requests":1.5,"per":"1s"}`), `policies[0].rate_limit.limits[0].requests: must be an integer, got 1.5`},
	{"rl requests float syntax", rl(`{"name":"a","requests":10.0,"per":"1s"}`), `policies[0].rate_limit.limits[0].requests: must be an integer, got 10.0`},
	{"rl requests exponent", rl(`{"name":"a","requests":1e999,"per":"1s"}`), `policies[0].rate_limit.limits[0].requests: must be an integer, got 1e999`},
	{"rl requests huge", rl(`{"name":"a","requests":123456789012345678901234567890,"per":"1s"}`), `policies[0].rate_limit.limits[0].requests: is too large (at most 9223372036854775807), got 123456789012345678901234567890`},
	{"rl requests string", rl(`{"name":"a","requests":"10","per":"1s"}`), `policies[0].rate_limit.limits[0].requests: must be an integer, got string`},
	{"rl requests missing", rl(`{"name":"a","per":"1s"}`), `policies[0].rate_limit.limits[0].requests: required`},
	{"rl per missing", rl(`{"name":"a","requests":1}`), `policies[0].rate_limit.limits[0].per: required`},
	{"rl per words", rl(`{"name":"a","requests":1,"per":"1 minute"}`), `policies[0].rate_limit.limits[0].per: must be a duration like "250ms" or "2s", got "1 minute"`},
	{"rl per number", rl(`{"name":"a","requests":1,"per":60}`), `policies[0].rate_limit.limits[0].per: must be a duration string like "250ms", got number`},
	{"rl per negative", rl(`{"name":"a","requests":1,"per":"-1s"}`), `policies[0].rate_limit.limits[0].per: must be positive, got "-1s"`},
	{"rl per zero", rl(`{"name":"a","requests":1,"per":"0s"}`), `policies[0].rate_limit.limits[0].per: must be positive, got "0s"`},
	{"rl per overflow", rl(`{"name":"a","requests":1,"per":"9999999999h"}`), `policies[0].rate_limit.limits[0].per: must be at most 87600h0m0s, got "9999999999h"`},
	{"rl per above bound", rl(`{"name":"a","requests":1,"per":"87601h"}`), `policies[0].rate_limit.limits[0].per: must be at most 87600h0m0s, got "87601h"`},
	{"rl refill too long", rl(`{"name":"a","requests":1,"per":"87600h","burst":1099511627776}`), `policies[0].rate_limit.limits[0].burst: 1099511627776 with requests 1 per 87600h0m0s takes more than 320255h58m24.606846976s to refill (burst × per / requests)`},
	{"rl burst zero", rl(`{"name":"a","requests":1,"per":"1s","burst":0}`), `policies[0].rate_limit.limits[0].burst: must be positive, got 0`},
	{"rl burst window", rl(`{"name":"a","algorithm":"fixed_window","requests":1,"per":"1s","burst":5}`), `policies[0].rate_limit.limits[0].burst: not allowed with algorithm "fixed_window": only token_bucket, gcra and leaky_bucket have a burst`},
	{"rl burst sliding", rl(`{"name":"a","algorithm":"sliding_window","requests":1,"per":"1s","burst":5}`), `policies[0].rate_limit.limits[0].burst: not allowed with algorithm "sliding_window": only token_bucket, gcra and leaky_bucket have a burst`},
	{"rl leaky no delay", rl(`{"name":"a","algorithm":"leaky_bucket","requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].max_delay: required with algorithm "leaky_bucket"`},
	{"rl delay on bucket", rl(`{"name":"a","requests":1,"per":"1s","max_delay":"1s"}`), `policies[0].rate_limit.limits[0].max_delay: only allowed with algorithm "leaky_bucket", not "token_bucket"`},
	{"rl leaky zero delay", rl(`{"name":"a","algorithm":"leaky_bucket","requests":1,"per":"1s","max_delay":"0s"}`), `policies[0].rate_limit.limits[0].max_delay: must be positive, got "0s"`},
	{"rl algorithm", rl(`{"name":"a","algorithm":"token-bucket","requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].algorithm: must be one of token_bucket, gcra, fixed_window, sliding_window, leaky_bucket, got "token-bucket"`},
	{"rl scope", rl(`{"name":"a","scope":"mesh","requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].scope: must be one of local, global, got "mesh"`},
	{"rl global no service", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k"}`), `policies[0].rate_limit.limits[0].scope: scope "global" requires rate_limit.service`},
	{"rl global no descriptor", rl(`{"name":"a","scope":"global","key":["path"]}`, svc), `policies[0].rate_limit.limits[0].descriptor_key: required with scope "global"`},
	{"rl global no key", rl(`{"name":"a","scope":"global","descriptor_key":"k"}`, svc), `policies[0].rate_limit.limits[0].key: required (non-empty) with scope "global": it gives the descriptor value`},
	{"rl global empty key", rl(`{"name":"a","scope":"global","key":[],"descriptor_key":"k"}`, svc), `policies[0].rate_limit.limits[0].key: required (non-empty) with scope "global": it gives the descriptor value`},
	{"rl global with rate", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k","requests":5}`, svc), `policies[0].rate_limit.limits[0].requests: with scope "global" only allowed under rate_limit.service.failure_mode "local" (the limit is the service's)`},
	{"rl global tier", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k","tier":{}}`, svc), `policies[0].rate_limit.limits[0].tier: not allowed with scope "global"`},
	{"rl global local no rate", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k"}`, `"service":{"cluster":"rls","domain":"d","failure_mode":"local"}`), `policies[0].rate_limit.limits[0].requests: required`},
	{"rl local descriptor", rl(`{"name":"a","requests":1,"per":"1s","descriptor_key":"k"}`), `policies[0].rate_limit.limits[0].descriptor_key: only allowed with scope "global"`},
	{"rl service unused", rl(`{"name":"a","requests":1,"per":"1s"}`, svc), `policies[0].rate_limit.service: set but no limit has scope "global"`},
	{"rl service no cluster", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k"}`, `"service":{"domain":"d"}`), `policies[0].rate_limit.service.cluster: required`},
	{"rl service no domain", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k"}`, `"service":{"cluster":"c"}`), `policies[0].rate_limit.service.domain: required`},
	{"rl service mode", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k"}`, `"service":{"cluster":"c","domain":"d","failure_mode":"open"}`), `policies[0].rate_limit.service.failure_mode: must be one of allow, deny, local, got "open"`},
	{"rl service timeout", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k"}`, `"service":{"cluster":"c","domain":"d","timeout":"0s"}`), `policies[0].rate_limit.service.timeout: must be positive, got "0s"`},
	{"rl service unknown", rl(`{"name":"a","scope":"global","key":["path"],"descriptor_key":"k"}`, `"service":{"cluster":"c","domain":"d","port":1}`), `policies[0].rate_limit.service.port: unknown key`},
	{"rl tier burst on window", rl(`{"name":"a","algorithm":"fixed_window","requests":1,"per":"1s","tier":{"from":"header:x-tier","default":"basic","limits":{"gold":{"requests":5,"per":"1s","burst":9}}}}`), `policies[0].rate_limit.limits[0].tier.limits.gold.burst: not allowed with algorithm "fixed_window": only token_bucket, gcra and leaky_bucket have a burst`},
	{"rl tier unknown param", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"header:x-tier","default":"basic","limits":{"gold":{"rps":5}}}}`), `policies[0].rate_limit.limits[0].tier.limits.gold.rps: unknown key`},
	{"rl tier delay on bucket", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"header:x-tier","default":"basic","limits":{"gold":{"requests":5,"per":"1s","max_delay":"1s"}}}}`), `policies[0].rate_limit.limits[0].tier.limits.gold.max_delay: only allowed with algorithm "leaky_bucket", not "token_bucket"`},
	{"rl tier no per", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"header:x-tier","default":"basic","limits":{"gold":{"requests":5}}}}`), `policies[0].rate_limit.limits[0].tier.limits.gold.per: required`},
	{"rl tier default listed", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"header:x-tier","default":"basic","limits":{"basic":{"requests":5,"per":"1s"}}}}`), `policies[0].rate_limit.limits[0].tier.limits.basic: is the default tier, whose parameters are the limit's own`},
	{"rl tier odd name", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"header:x-tier","default":"basic","limits":{"":{"requests":5,"per":"1s"}}}}`), `policies[0].rate_limit.limits[0].tier.limits[""]: tier name must be 1 to 256 bytes without control characters`},
	{"rl tier from", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"cookie:x","default":"basic","limits":{"gold":{"requests":5,"per":"1s"}}}}`), `policies[0].rate_limit.limits[0].tier.from: must be one of header:NAME, path, method, authority, remote_address, property:a.b.c or const:VALUE, got "cookie:x"`},
	{"rl tier no from", rl(`{"name":"a","requests":1,"per":"1s","tier":{"default":"basic","limits":{"gold":{"requests":5,"per":"1s"}}}}`), `policies[0].rate_limit.limits[0].tier.from: required`},
	{"rl tier no default", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"path","limits":{"gold":{"requests":5,"per":"1s"}}}}`), `policies[0].rate_limit.limits[0].tier.default: required`},
	{"rl tier empty limits", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"path","default":"b","limits":{}}}`), `policies[0].rate_limit.limits[0].tier.limits: must not be empty`},
	{"rl tier no limits", rl(`{"name":"a","requests":1,"per":"1s","tier":{"from":"path","default":"b"}}`), `policies[0].rate_limit.limits[0].tier.limits: required`},
	{"rl max_keys zero", rl(`{"name":"a","requests":1,"per":"1s","max_keys":0}`), `policies[0].rate_limit.limits[0].max_keys: must be in [1,1000000], got 0`},
	{"rl max_keys huge", rl(`{"name":"a","requests":1,"per":"1s","max_keys":2000000}`), `policies[0].rate_limit.limits[0].max_keys: must be in [1,1000000], got 2000000`},
	{"rl status low", rl(`{"name":"a","requests":1,"per":"1s"}`, `"status":99`), `policies[0].rate_limit.status: must be in [200,599], got 99`},
	{"rl status high", rl(`{"name":"a","requests":1,"per":"1s"}`, `"status":600`), `policies[0].rate_limit.status: must be in [200,599], got 600`},
	{"rl status string", rl(`{"name":"a","requests":1,"per":"1s"}`, `"status":"429"`), `policies[0].rate_limit.status: must be an integer, got string`},
	{"rl headers string", rl(`{"name":"a","requests":1,"per":"1s"}`, `"headers":"yes"`), `policies[0].rate_limit.headers: must be a boolean, got string`},
	{"rl limit unknown", rl(`{"name":"a","requests":1,"per":"1s","window":"1s"}`), `policies[0].rate_limit.limits[0].window: unknown key`},

	// key parts
	{"key string", rl(`{"name":"a","key":"path","requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key: must be an array, got string`},
	{"key unknown part", rl(`{"name":"a","key":["query"],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key[0]: must be one of header:NAME, path, method, authority, remote_address, property:a.b.c or const:VALUE, got "query"`},
	{"key header empty", rl(`{"name":"a","key":["header:"],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key[0]: header part needs a header name (an RFC 9110 token), got "header:"`},
	{"key header space", rl(`{"name":"a","key":["header:x y"],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key[0]: header part needs a header name (an RFC 9110 token), got "header:x y"`},
	{"key property", rl(`{"name":"a","key":["property:a..b"],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key[0]: property part needs a dotted attribute path of [A-Za-z0-9_-] segments like source.address, got "property:a..b"`},
	{"key const empty", rl(`{"name":"a","key":["const:"],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key[0]: const part needs a value of 1 to 256 bytes without control characters, got "const:"`},
	{"key dup", rl(`{"name":"a","key":["header:X-A","header:x-a"],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key[1]: duplicate key part "header:x-a"`},
	{"key upper kind", rl(`{"name":"a","key":["PATH"],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key[0]: must be one of header:NAME, path, method, authority, remote_address, property:a.b.c or const:VALUE, got "PATH"`},
	{"key number", rl(`{"name":"a","key":[1],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key[0]: must be a string, got number`},
	{"key too many", rl(`{"name":"a","key":["const:1","const:2","const:3","const:4","const:5","const:6","const:7","const:8","const:9","const:10","const:11","const:12","const:13","const:14","const:15","const:16","const:17"],"requests":1,"per":"1s"}`), `policies[0].rate_limit.limits[0].key: at most 16 parts, got 17`},

	// circuit_breaker
	{"cb threshold high", pol(`"circuit_breaker":{"failure_rate_threshold":1.5}`), `policies[0].circuit_breaker.failure_rate_threshold: must be in (0,1], got 1.5`},
	{"cb threshold zero", pol(`"circuit_breaker":{"failure_rate_threshold":0}`), `policies[0].circuit_breaker.failure_rate_threshold: must be positive, got 0`},
	{"cb threshold huge", pol(`"circuit_breaker":{"failure_rate_threshold":1e999}`), `policies[0].circuit_breaker.failure_rate_threshold: must be a finite number, got 1e999`},
	{"cb threshold string", pol(`"circuit_breaker":{"failure_rate_threshold":"0.5"}`), `policies[0].circuit_breaker.failure_rate_threshold: must be a number, got string`},
	{"cb slow threshold", pol(`"circuit_breaker":{"slow_call_duration":"1s","slow_call_rate_threshold":-0.1}`), `policies[0].circuit_breaker.slow_call_rate_threshold: must be positive, got -0.1`},
	{"cb slow without duration", pol(`"circuit_breaker":{"slow_call_rate_threshold":0.5}`), `policies[0].circuit_breaker.slow_call_rate_threshold: requires slow_call_duration`},
	{"cb count size duration", pol(`"circuit_breaker":{"window":{"type":"count","size":"60s"}}`), `policies[0].circuit_breaker.window.size: must be an integer (a number of calls) for a count window, got string`},
	{"cb time size integer", pol(`"circuit_breaker":{"window":{"type":"time","size":100}}`), `policies[0].circuit_breaker.window.size: must be a duration string like "60s" for a time window, got number`},
	{"cb count buckets", pol(`"circuit_breaker":{"window":{"type":"count","size":100,"buckets":10}}`), `policies[0].circuit_breaker.window.buckets: only allowed with type "time"`},
	{"cb window no type", pol(`"circuit_breaker":{"window":{"size":100}}`), `policies[0].circuit_breaker.window.type: required`},
	{"cb window bad type", pol(`"circuit_breaker":{"window":{"type":"sliding","size":100}}`), `policies[0].circuit_breaker.window.type: must be one of count, time, got "sliding"`},
	{"cb window no size", pol(`"circuit_breaker":{"window":{"type":"count"}}`), `policies[0].circuit_breaker.window.size: required`},
	{"cb window size zero", pol(`"circuit_breaker":{"window":{"type":"count","size":0}}`), `policies[0].circuit_breaker.window.size: must be positive, got 0`},
	{"cb window buckets zero", pol(`"circuit_breaker":{"window":{"type":"time","size":"60s","buckets":0}}`), `policies[0].circuit_breaker.window.buckets: must be positive, got 0`},
	{"cb window tiny buckets", pol(`"circuit_breaker":{"window":{"type":"time","size":"5ms","buckets":10}}`), `policies[0].circuit_breaker.window.buckets: must leave buckets of at least 1ms in policies[0].circuit_breaker.window.size (5ms), got 5ms / 10 = 500µs`},
	{"cb window time zero", pol(`"circuit_breaker":{"window":{"type":"time","size":"0s"}}`), `policies[0].circuit_breaker.window.size: must be positive, got "0s"`},
	{"cb min calls over size", pol(`"circuit_breaker":{"window":{"type":"count","size":100},"minimum_calls":200}`), `policies[0].circuit_breaker.minimum_calls: must be at most policies[0].circuit_breaker.window.size (100), got 200: a count window of 100 calls never reaches it`},
	{"cb size under explicit min", pol(`"circuit_breaker":{"window":{"type":"count","size":10},"minimum_calls":20}`), `policies[0].circuit_breaker.minimum_calls: must be at most policies[0].circuit_breaker.window.size (10), got 20: a count window of 10 calls never reaches it`},
	{"cb min calls zero", pol(`"circuit_breaker":{"minimum_calls":0}`), `policies[0].circuit_breaker.minimum_calls: must be positive, got 0`},
	{"cb consecutive negative", pol(`"circuit_breaker":{"consecutive_failures":-1}`), `policies[0].circuit_breaker.consecutive_failures: must not be negative, got -1`},
	{"cb max open below open", pol(`"circuit_breaker":{"open_duration":"1m","max_open_duration":"10s"}`), `policies[0].circuit_breaker.max_open_duration: must be at least policies[0].circuit_breaker.open_duration (1m0s), got 10s`},
	{"cb window over breaker bound", pol(`"circuit_breaker":{"window":{"type":"count","size":10001}}`), `policies[0].circuit_breaker.window.size: must be in [1,10000] calls, got 10001`},
	{"cb buckets over breaker bound", pol(`"circuit_breaker":{"window":{"type":"time","size":"1h","buckets":1000}}`), `policies[0].circuit_breaker.window.buckets: must be in [1,600], got 1000`},
	{"cb half_open_max_wait zero", pol(`"circuit_breaker":{"half_open_max_wait":"0s"}`), `policies[0].circuit_breaker.half_open_max_wait: must be positive, got "0s"`},
	{"cb open zero", pol(`"circuit_breaker":{"open_duration":"0s"}`), `policies[0].circuit_breaker.open_duration: must be positive, got "0s"`},
	{"cb backoff", pol(`"circuit_breaker":{"open_backoff":0.5}`), `policies[0].circuit_breaker.open_backoff: must be in [1,100], got 0.5`},
	{"cb half open", pol(`"circuit_breaker":{"half_open_calls":0}`), `policies[0].circuit_breaker.half_open_calls: must be positive, got 0`},
	{"cb half open high", pol(`"circuit_breaker":{"half_open_calls":65}`), `policies[0].circuit_breaker.half_open_calls: must be in [1,64], got 65`},
	{"cb statuses dup", pol(`"circuit_breaker":{"failure_on":{"statuses":[500,500]}}`), `policies[0].circuit_breaker.failure_on.statuses[1]: duplicate status 500`},
	{"cb statuses low", pol(`"circuit_breaker":{"failure_on":{"statuses":[199]}}`), `policies[0].circuit_breaker.failure_on.statuses[0]: must be in [200,599], got 199`},
	{"cb statuses high", pol(`"circuit_breaker":{"failure_on":{"statuses":[700]}}`), `policies[0].circuit_breaker.failure_on.statuses[0]: must be in [200,599], got 700`},
	{"cb reset string", pol(`"circuit_breaker":{"failure_on":{"reset":"yes"}}`), `policies[0].circuit_breaker.failure_on.reset: must be a boolean, got string`},
	{"cb failure_on nothing", pol(`"circuit_breaker":{"failure_on":{"statuses":[],"reset":false,"timeout":false,"connect_failure":false}}`), `policies[0].circuit_breaker.failure_on: counts no outcome as a failure and slow calls are not tracked: the breaker could never open`},
	{"cb failure_on unknown", pol(`"circuit_breaker":{"failure_on":{"status":[500]}}`), `policies[0].circuit_breaker.failure_on.status: unknown key (did you mean "statuses"?)`},
	{"cb mode", pol(`"circuit_breaker":{"mode":"on"}`), `policies[0].circuit_breaker.mode: must be one of enforce, observe, forced_open, disabled, got "on"`},
	{"cb max keys", pol(`"circuit_breaker":{"max_keys":0}`), `policies[0].circuit_breaker.max_keys: must be in [1,1000000], got 0`},
	{"cb typo", pol(`"circuit_breaker":{"minimum_call":5}`), `policies[0].circuit_breaker.minimum_call: unknown key (did you mean "minimum_calls"?)`},

	// bulkhead
	{"bh empty", pol(`"bulkhead":{}`), `policies[0].bulkhead.max_concurrent: required`},
	{"bh zero", pol(`"bulkhead":{"max_concurrent":0}`), `policies[0].bulkhead.max_concurrent: must be positive, got 0`},
	{"bh state too large", pol(`"bulkhead":{"max_concurrent":4096}`), `policies[0].bulkhead.max_concurrent: 4096 needs 65541 bytes of shared state (16 × max_concurrent + 5), at most 65535: at most 4095 without a queue`},
	{"bh state with queue too large", pol(`"bulkhead":{"max_concurrent":2000,"queue":{"max_size":1400,"max_wait":"1s"}}`), `policies[0].bulkhead.max_concurrent: 2000 with policies[0].bulkhead.queue.max_size 1400 needs 65605 bytes of shared state (16 × max_concurrent + 24 × queue.max_size + 5), at most 65535`},
	{"bh queue empty", pol(`"bulkhead":{"max_concurrent":1,"queue":{}}`), `policies[0].bulkhead.queue.max_size: required`},
	{"bh queue no wait", pol(`"bulkhead":{"max_concurrent":1,"queue":{"max_size":1}}`), `policies[0].bulkhead.queue.max_wait: required`},
	{"bh queue zero wait", pol(`"bulkhead":{"max_concurrent":1,"queue":{"max_size":1,"max_wait":"0s"}}`), `policies[0].bulkhead.queue.max_wait: must be positive, got "0s"`},
	{"bh lease short", pol(`"bulkhead":{"max_concurrent":1,"lease_ttl":"500ms"}`), `policies[0].bulkhead.lease_ttl: must be at least 1s, got 500ms`},
	{"bh key", pol(`"bulkhead":{"max_concurrent":1,"key":["header"]}`), `policies[0].bulkhead.key[0]: must be one of header:NAME, path, method, authority, remote_address, property:a.b.c or const:VALUE, got "header"`},

	// retry
	{"retry max", pol(`"retry":{"max_retries":11}`), `policies[0].retry.max_retries: must be in [0,10], got 11`},
	{"retry on empty", pol(`"retry":{"retry_on":[]}`), `policies[0].retry.retry_on: must not be empty`},
	{"retry on dup", pol(`"retry":{"retry_on":["5xx","5xx"]}`), `policies[0].retry.retry_on[1]: duplicate "5xx"`},
	{"retry on unknown", pol(`"retry":{"retry_on":["sometimes"]}`), `policies[0].retry.retry_on[0]: must be one of 5xx, gateway-error, reset, reset-before-request, connect-failure, envoy-ratelimited, retriable-4xx, refused-stream, retriable-status-codes, http3-post-connect-failure, cancelled, deadline-exceeded, internal, resource-exhausted, unavailable, got "sometimes"`},
	{"retry codes missing", pol(`"retry":{"retry_on":["retriable-status-codes"]}`), `policies[0].retry.retriable_status_codes: required when retry_on has "retriable-status-codes"`},
	{"retry codes unused", pol(`"retry":{"retriable_status_codes":[503]}`), `policies[0].retry.retriable_status_codes: requires "retriable-status-codes" in retry_on`},
	{"retry codes empty", pol(`"retry":{"retry_on":["retriable-status-codes"],"retriable_status_codes":[]}`), `policies[0].retry.retriable_status_codes: must not be empty`},
	{"retry codes range", pol(`"retry":{"retry_on":["retriable-status-codes"],"retriable_status_codes":[1000]}`), `policies[0].retry.retriable_status_codes[0]: must be in [200,599], got 1000`},
	{"retry per try zero", pol(`"retry":{"per_try_timeout":"0s"}`), `policies[0].retry.per_try_timeout: must be positive, got "0s"`},
	{"retry per try over request", pol(`"retry":{"per_try_timeout":"5s"},"timeout":{"request":"2s"}`), `policies[0].retry.per_try_timeout: must be at most policies[0].timeout.request (2s), got 5s`},
	{"retry methods empty", pol(`"retry":{"methods":[]}`), `policies[0].retry.methods: must not be empty`},
	{"retry budget zero", pol(`"retry":{"budget":{"ratio":0,"min_per_second":0}}`), `policies[0].retry.budget.min_per_second: is 0 and so is policies[0].retry.budget.ratio: no retry could ever happen (use max_retries 0)`},
	{"retry budget ratio", pol(`"retry":{"budget":{"ratio":1001}}`), `policies[0].retry.budget.ratio: must be in [0,1000], got 1001`},
	{"retry budget min", pol(`"retry":{"budget":{"min_per_second":-1}}`), `policies[0].retry.budget.min_per_second: must not be negative, got -1`},

	// timeout
	{"timeout empty", pol(`"timeout":{}`), `policies[0].timeout: must set at least one of request, deadline, adaptive`},
	{"timeout zero", pol(`"timeout":{"request":"0s"}`), `policies[0].timeout.request: must be positive, got "0s"`},
	{"timeout min remaining", pol(`"timeout":{"deadline":{"min_remaining":"-1ms"}}`), `policies[0].timeout.deadline.min_remaining: must not be negative, got "-1ms"`},
	{"timeout propagate", pol(`"timeout":{"deadline":{"propagate":1}}`), `policies[0].timeout.deadline.propagate: must be a boolean, got number`},
	{"adaptive no request", pol(`"timeout":{"adaptive":{"min":"1ms","max":"1s"}}`), `policies[0].timeout.adaptive: requires timeout.request (it applies until min_samples are seen)`},
	{"adaptive no min", pol(`"timeout":{"request":"1s","adaptive":{"max":"1s"}}`), `policies[0].timeout.adaptive.min: required`},
	{"adaptive max below min", pol(`"timeout":{"request":"1s","adaptive":{"min":"2s","max":"1s"}}`), `policies[0].timeout.adaptive.max: must be at least policies[0].timeout.adaptive.min (2s), got 1s`},
	{"adaptive quantile", pol(`"timeout":{"request":"1s","adaptive":{"quantile":1.5,"min":"1ms","max":"1s"}}`), `policies[0].timeout.adaptive.quantile: must be in (0,1], got 1.5`},
	{"bh lease_ttl huge", pol(`"bulkhead":{"max_concurrent":1,"lease_ttl":"2562048h"}`), `policies[0].bulkhead.lease_ttl: must be at most 87600h0m0s, got "2562048h"`},
	{"bh lease_ttl just above bound", pol(`"bulkhead":{"max_concurrent":1,"lease_ttl":"2562047h"}`), `policies[0].bulkhead.lease_ttl: must be at most 87600h0m0s, got "2562047h"`},
	{"adaptive multiplier", pol(`"timeout":{"request":"1s","adaptive":{"multiplier":0,"min":"1ms","max":"1s"}}`), `policies[0].timeout.adaptive.multiplier: must be positive, got 0`},
	{"adaptive samples", pol(`"timeout":{"request":"1s","adaptive":{"min_samples":0,"min":"1ms","max":"1s"}}`), `policies[0].timeout.adaptive.min_samples: must be positive, got 0`},

	// fallback
	{"fb empty", pol(`"fallback":{}`), `policies[0].fallback.on: required`},
	{"fb on empty", pol(`"fallback":{"on":[],"status":503}`), `policies[0].fallback.on: must not be empty`},
	{"fb on unknown", pol(`"fallback":{"on":["nope"],"status":503}`), `policies[0].fallback.on[0]: must be one of rate_limited, circuit_open, bulkhead_full, deadline_exceeded, fault_abort, upstream_failure, got "nope"`},
	{"fb on dup", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open","circuit_open"],"status":503}`), `policies[0].fallback.on[1]: duplicate reason circuit_open`},
	{"fb on impossible", pol(`"fallback":{"on":["circuit_open"],"status":503}`), `policies[0].fallback.on[0]: reason circuit_open never happens: the policy has no circuit_breaker`},
	{"fb on deadline", pol(`"timeout":{"request":"1s"},"fallback":{"on":["deadline_exceeded"],"status":503}`), `policies[0].fallback.on[0]: reason deadline_exceeded never happens: the policy has no timeout.deadline`},
	{"fb on fault", pol(`"fault":{"delay":{"percent":1,"duration":"1s"}},"fallback":{"on":["fault_abort"],"status":503}`), `policies[0].fallback.on[0]: reason fault_abort never happens: the policy has no fault.abort`},
	{"fb nothing", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"]}`), `policies[0].fallback: must set at least one of status, headers, body, stale`},
	{"fb status", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"status":700}`), `policies[0].fallback.status: must be in [200,599], got 700`},
	{"fb reserved header", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{"X-Breakwater-Reason":"x"}}`), `policies[0].fallback.headers.X-Breakwater-Reason: is set by the filter or by Envoy and cannot be configured`},
	{"fb content-length", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{"content-length":"1"}}`), `policies[0].fallback.headers.content-length: is set by the filter or by Envoy and cannot be configured`},
	{"fb header dup", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{"Content-Type":"a","content-type":"b"}}`), `policies[0].fallback.headers.content-type: duplicate header (names are case-insensitive)`},
	{"fb header number", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{"a":1}}`), `policies[0].fallback.headers.a: must be a string, got number`},
	{"fb header crlf", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{"a":"x\ny"}}`), `policies[0].fallback.headers.a: must not contain CR, LF or NUL`},
	{"fb header name", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{"a b":"x"}}`), `policies[0].fallback.headers["a b"]: must be a header name (an RFC 9110 token, at most 256 bytes), got "a b"`},
	{"fb headers many", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":{` + manyHeaders(65) + `}}`), `policies[0].fallback.headers: at most 64 headers, got 65`},
	{"fb headers array", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"headers":[]}`), `policies[0].fallback.headers: must be an object, got array`},
	{"fb body number", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"body":1}`), `policies[0].fallback.body: must be a string, got number`},
	{"fb stale empty", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"stale":{}}`), `policies[0].fallback.stale.max_age: required`},
	{"fb stale bytes", pol(`"circuit_breaker":{},"fallback":{"on":["circuit_open"],"stale":{"max_age":"1m","max_body_bytes":0}}`), `policies[0].fallback.stale.max_body_bytes: must be in [1,16777216], got 0`},

	// fault
	{"fault empty", pol(`"fault":{}`), `policies[0].fault: must set abort, delay or both`},
	{"fault only header", pol(`"fault":{"only_with_header":"x-f"}`), `policies[0].fault: must set abort, delay or both`},
	{"fault abort empty", pol(`"fault":{"abort":{}}`), `policies[0].fault.abort.percent: required`},
	{"fault percent high", pol(`"fault":{"abort":{"percent":100.5}}`), `policies[0].fault.abort.percent: must be in [0,100], got 100.5`},
	{"fault percent negative", pol(`"fault":{"delay":{"percent":-1,"duration":"1s"}}`), `policies[0].fault.delay.percent: must not be negative, got -1`},
	{"fault abort status", pol(`"fault":{"abort":{"percent":1,"status":600}}`), `policies[0].fault.abort.status: must be in [200,599], got 600`},
	{"fault delay no duration", pol(`"fault":{"delay":{"percent":1}}`), `policies[0].fault.delay.duration: required`},
	{"fault delay zero", pol(`"fault":{"delay":{"percent":1,"duration":"0s"}}`), `policies[0].fault.delay.duration: must be positive, got "0s"`},
	// dead_letter
	{"dl empty", pol(`"dead_letter":{}`), `policies[0].dead_letter.cluster: required`},
	{"dl cluster number", pol(`"dead_letter":{"cluster":1}`), `policies[0].dead_letter.cluster: must be a string, got number`},
	{"dl cluster empty", pol(`"dead_letter":{"cluster":""}`), `policies[0].dead_letter.cluster: required`},
	{"dl unknown", pol(`"dead_letter":{"cluster":"dlq","max_body_byte":1}`), `policies[0].dead_letter.max_body_byte: unknown key (did you mean "max_body_bytes"?)`},
	{"dl on empty", pol(`"dead_letter":{"cluster":"dlq","on":[]}`), `policies[0].dead_letter.on: must not be empty`},
	{"dl on unknown", pol(`"dead_letter":{"cluster":"dlq","on":["rate_limited"]}`), `policies[0].dead_letter.on[0]: must be one of upstream_failure, circuit_open, bulkhead_full, deadline_exceeded, got "rate_limited"`},
	{"dl on dup", pol(`"dead_letter":{"cluster":"dlq","on":["upstream_failure","upstream_failure"]}`), `policies[0].dead_letter.on[1]: duplicate reason upstream_failure`},
	{"dl on never", pol(`"dead_letter":{"cluster":"dlq","on":["upstream_failure","bulkhead_full"]}`), `policies[0].dead_letter.on[1]: reason bulkhead_full never happens: the policy has no bulkhead`},
	{"dl on number", pol(`"dead_letter":{"cluster":"dlq","on":[1]}`), `policies[0].dead_letter.on[0]: must be a string, got number`},
	{"dl methods bad", pol(`"dead_letter":{"cluster":"dlq","methods":["PO ST"]}`), `policies[0].dead_letter.methods[0]: must be an HTTP method, got "PO ST"`},
	{"dl methods dup", pol(`"dead_letter":{"cluster":"dlq","methods":["post","POST"]}`), `policies[0].dead_letter.methods[1]: duplicate method "POST"`},
	{"dl body zero", pol(`"dead_letter":{"cluster":"dlq","max_body_bytes":0}`), `policies[0].dead_letter.max_body_bytes: must be in [1,1048576], got 0`},
	{"dl body big", pol(`"dead_letter":{"cluster":"dlq","max_body_bytes":2000000}`), `policies[0].dead_letter.max_body_bytes: must be in [1,1048576], got 2000000`},
	{"dl body float", pol(`"dead_letter":{"cluster":"dlq","max_body_bytes":1.5}`), `policies[0].dead_letter.max_body_bytes: must be an integer, got 1.5`},
	{"dl redact bad", pol(`"dead_letter":{"cluster":"dlq","redact_headers":["a b"]}`), `policies[0].dead_letter.redact_headers[0]: must be a header name (an RFC 9110 token, at most 256 bytes), got "a b"`},
	{"dl timeout zero", pol(`"dead_letter":{"cluster":"dlq","timeout":"0s"}`), `policies[0].dead_letter.timeout: must be positive, got "0s"`},
	{"dl timeout small", pol(`"dead_letter":{"cluster":"dlq","timeout":"10us"}`), `policies[0].dead_letter.timeout: must be in [1ms,1m0s], got 10µs`},
	{"dl timeout long", pol(`"dead_letter":{"cluster":"dlq","timeout":"2m"}`), `policies[0].dead_letter.timeout: must be in [1ms,1m0s], got 2m0s`},
	{"fault header", pol(`"fault":{"abort":{"percent":1},"only_with_header":"x y"}`), `policies[0].fault.only_with_header: must be a header name (an RFC 9110 token, at most 256 bytes), got "x y"`},
}

func TestParseInvalid(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range invalidCases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse accepted %s: %+v", clip(tc.in), c)
			}
			if c != nil {
				t.Fatalf("Parse returned a config with an error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *Error", err)
			}
			want := "breakwater: config: " + tc.want
			if err.Error() != want {
				t.Fatalf("error\n got: %s\nwant: %s", err, want)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			// Load reports the same first error.
			if _, lerr := Load([]byte(tc.in)); lerr == nil || lerr.Error() != want {
				t.Fatalf("Load error %v, want %s", lerr, want)
			}
		})
	}
}
