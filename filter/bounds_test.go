package filter

import (
	"fmt"
	"testing"
	"time"

	"github.com/breakwater/breakwater/filter/config"
)

// A bound is one numeric or duration field of the configuration with the
// lowest and highest values it accepts and the nearest refused ones around
// them (the bounds table of docs/configuration.md). tmpl is a whole
// configuration with %s where the value goes; durations are written
// without their quotes.
type bound struct {
	name, tmpl      string
	kind            byte // 'i' integer, 'f' number, 'd' duration
	below, min, max string
	above           string
	minZero         bool // zero is the minimum (a negative zero is zero)
}

func one(fields string) string { return `{"policies":[{"name":"p",` + fields + `}]}` }

const (
	maxDur      = "87600h"
	aboveMaxDur = "87600h0m0.000000001s"
)

// durBound is a positive duration of the policy block in fields (at most
// maxDur).
func durBound(name, fields string) bound {
	return bound{name: name, tmpl: one(fields), kind: 'd', below: "0s", min: "1ns", max: maxDur, above: aboveMaxDur}
}

var bounds = []bound{
	// rate_limit
	{name: "requests", tmpl: one(`"rate_limit":{"limits":[{"name":"a","requests":%s,"per":"1s"}]}`), kind: 'i',
		below: "0", min: "1", max: "4611686018427387904", above: "4611686018427387905"},
	durBound("per", `"rate_limit":{"limits":[{"name":"a","requests":1,"per":"%s"}]}`),
	{name: "burst (refill at most 2^60ns)", tmpl: one(`"rate_limit":{"limits":[{"name":"a","requests":1,"per":"1ns","burst":%s}]}`), kind: 'i',
		below: "0", min: "1", max: "1152921504606846976", above: "1152921504606846977"},
	{name: "burst per second", tmpl: one(`"rate_limit":{"limits":[{"name":"a","requests":1,"per":"1s","burst":%s}]}`), kind: 'i',
		below: "0", min: "1", max: "1152921504", above: "1152921505"},
	durBound("max_delay", `"rate_limit":{"limits":[{"name":"a","algorithm":"leaky_bucket","requests":1,"per":"1s","max_delay":"%s"}]}`),
	{name: "rate_limit max_keys", tmpl: one(`"rate_limit":{"limits":[{"name":"a","requests":1,"per":"1s","max_keys":%s}]}`), kind: 'i',
		below: "0", min: "1", max: "1000000", above: "1000001"},
	{name: "rate_limit status", tmpl: one(`"rate_limit":{"limits":[{"name":"a","requests":1,"per":"1s"}],"status":%s}`), kind: 'i',
		below: "199", min: "200", max: "599", above: "600"},
	{name: "tier requests", tmpl: one(`"rate_limit":{"limits":[{"name":"a","requests":1,"per":"1s","tier":{"from":"path","default":"d","limits":{"t":{"requests":%s,"per":"1s"}}}}]}`), kind: 'i',
		below: "0", min: "1", max: "4611686018427387904", above: "4611686018427387905"},
	{name: "service timeout", tmpl: one(`"rate_limit":{"limits":[{"name":"a","scope":"global","key":["path"],"descriptor_key":"p"}],"service":{"cluster":"c","domain":"d","timeout":"%s"}}`), kind: 'd',
		below: "0s", min: "1ns", max: "1193h2m47.295s", above: "1193h2m47.295000001s"},
	// circuit_breaker
	{name: "count window size", tmpl: one(`"circuit_breaker":{"window":{"type":"count","size":%s}}`), kind: 'i',
		below: "0", min: "1", max: "10000", above: "10001"},
	{name: "time window size", tmpl: one(`"circuit_breaker":{"window":{"type":"time","size":"%s"}}`), kind: 'd',
		below: "999.999µs", min: "1ms", max: maxDur, above: aboveMaxDur},
	{name: "time window buckets", tmpl: one(`"circuit_breaker":{"window":{"type":"time","size":"1h","buckets":%s}}`), kind: 'i',
		below: "0", min: "1", max: "600", above: "601"},
	{name: "buckets of 1ms", tmpl: one(`"circuit_breaker":{"window":{"type":"time","size":"10ms","buckets":%s}}`), kind: 'i',
		below: "0", min: "1", max: "10", above: "11"},
	{name: "minimum_calls, count window", tmpl: one(`"circuit_breaker":{"minimum_calls":%s}`), kind: 'i',
		below: "0", min: "1", max: "10000", above: "10001"},
	{name: "minimum_calls, time window", tmpl: one(`"circuit_breaker":{"window":{"type":"time","size":"1m"},"minimum_calls":%s}`), kind: 'i',
		below: "0", min: "1", max: "1000000", above: "1000001"},
	{name: "minimum_calls, count window of 10", tmpl: one(`"circuit_breaker":{"window":{"type":"count","size":10},"minimum_calls":%s}`), kind: 'i',
		below: "0", min: "1", max: "10", above: "11"},
	{name: "failure_rate_threshold", tmpl: one(`"circuit_breaker":{"failure_rate_threshold":%s}`), kind: 'f',
		below: "0", min: "5e-324", max: "1", above: "1.0000000000000002"},
	{name: "slow_call_rate_threshold", tmpl: one(`"circuit_breaker":{"slow_call_duration":"1s","slow_call_rate_threshold":%s}`), kind: 'f',
		below: "0", min: "5e-324", max: "1", above: "1.0000000000000002"},
	{name: "consecutive_failures", tmpl: one(`"circuit_breaker":{"consecutive_failures":%s}`), kind: 'i',
		below: "-1", min: "0", max: "2147483647", above: "2147483648", minZero: true},
	durBound("slow_call_duration", `"circuit_breaker":{"slow_call_duration":"%s"}`),
	durBound("open_duration", `"circuit_breaker":{"open_duration":"%s"}`),
	durBound("max_open_duration", `"circuit_breaker":{"max_open_duration":"%s"}`),
	durBound("half_open_max_wait", `"circuit_breaker":{"half_open_max_wait":"%s"}`),
	{name: "open_backoff", tmpl: one(`"circuit_breaker":{"open_backoff":%s}`), kind: 'f',
		below: "0.9999999999999999", min: "1", max: "100", above: "100.00000000000001"},
	{name: "half_open_calls", tmpl: one(`"circuit_breaker":{"half_open_calls":%s}`), kind: 'i',
		below: "0", min: "1", max: "64", above: "65"},
	{name: "circuit_breaker max_keys", tmpl: one(`"circuit_breaker":{"max_keys":%s}`), kind: 'i',
		below: "0", min: "1", max: "1000000", above: "1000001"},
	// bulkhead
	{name: "max_concurrent", tmpl: one(`"bulkhead":{"max_concurrent":%s}`), kind: 'i',
		below: "0", min: "1", max: "4095", above: "4096"},
	{name: "queue max_size", tmpl: one(`"bulkhead":{"max_concurrent":1,"queue":{"max_size":%s,"max_wait":"1s"}}`), kind: 'i',
		below: "0", min: "1", max: "2729", above: "2730"},
	durBound("queue max_wait", `"bulkhead":{"max_concurrent":1,"queue":{"max_size":1,"max_wait":"%s"}}`),
	{name: "lease_ttl", tmpl: one(`"bulkhead":{"max_concurrent":1,"lease_ttl":"%s"}`), kind: 'd',
		below: "999.999999ms", min: "1s", max: maxDur, above: aboveMaxDur},
	{name: "bulkhead max_keys", tmpl: one(`"bulkhead":{"max_concurrent":1,"max_keys":%s}`), kind: 'i',
		below: "0", min: "1", max: "1000000", above: "1000001"},
	// retry
	{name: "max_retries", tmpl: one(`"retry":{"max_retries":%s}`), kind: 'i',
		below: "-1", min: "0", max: "10", above: "11", minZero: true},
	durBound("per_try_timeout", `"retry":{"per_try_timeout":"%s"}`),
	{name: "per_try_timeout under request", tmpl: one(`"retry":{"per_try_timeout":"%s"},"timeout":{"request":"2s"}`), kind: 'd',
		below: "0s", min: "1ns", max: "2s", above: "2.000000001s"},
	{name: "budget ratio", tmpl: one(`"retry":{"budget":{"ratio":%s}}`), kind: 'f',
		below: "-5e-324", min: "0", max: "1000", above: "1000.0000000000001", minZero: true},
	{name: "budget min_per_second", tmpl: one(`"retry":{"budget":{"min_per_second":%s}}`), kind: 'i',
		below: "-1", min: "0", max: "1000000", above: "1000001", minZero: true},
	// timeout
	durBound("request", `"timeout":{"request":"%s"}`),
	{name: "min_remaining", tmpl: one(`"timeout":{"deadline":{"min_remaining":"%s"}}`), kind: 'd',
		below: "-1ns", min: "0s", max: maxDur, above: aboveMaxDur, minZero: true},
	{name: "adaptive quantile", tmpl: one(`"timeout":{"request":"1s","adaptive":{"min":"1ms","max":"1s","quantile":%s}}`), kind: 'f',
		below: "0", min: "5e-324", max: "1", above: "1.0000000000000002"},
	{name: "adaptive multiplier", tmpl: one(`"timeout":{"request":"1s","adaptive":{"min":"1ms","max":"1s","multiplier":%s}}`), kind: 'f',
		below: "0", min: "5e-324", max: "100", above: "100.00000000000001"},
	{name: "adaptive extra", tmpl: one(`"timeout":{"request":"1s","adaptive":{"min":"1ms","max":"1s","extra":"%s"}}`), kind: 'd',
		below: "-1ns", min: "0s", max: maxDur, above: aboveMaxDur, minZero: true},
	{name: "adaptive min", tmpl: one(`"timeout":{"request":"1s","adaptive":{"min":"%s","max":"1s"}}`), kind: 'd',
		below: "0s", min: "1ns", max: "1s", above: "1.000000001s"},
	{name: "adaptive max", tmpl: one(`"timeout":{"request":"1s","adaptive":{"min":"1ms","max":"%s"}}`), kind: 'd',
		below: "999.999µs", min: "1ms", max: maxDur, above: aboveMaxDur},
	{name: "adaptive min_samples", tmpl: one(`"timeout":{"request":"1s","adaptive":{"min":"1ms","max":"1s","min_samples":%s}}`), kind: 'i',
		below: "0", min: "1", max: "1000000", above: "1000001"},
	// fallback
	{name: "fallback status", tmpl: one(`"bulkhead":{"max_concurrent":1},"fallback":{"on":["bulkhead_full"],"status":%s}`), kind: 'i',
		below: "199", min: "200", max: "599", above: "600"},
	durBound("stale max_age", `"bulkhead":{"max_concurrent":1},"fallback":{"on":["bulkhead_full"],"stale":{"max_age":"%s"}}`),
	{name: "stale max_body_bytes", tmpl: `{"max_shared_bytes":1099511627776,` + one(`"bulkhead":{"max_concurrent":1},"fallback":{"on":["bulkhead_full"],"stale":{"max_age":"1s","max_body_bytes":%s}}`)[1:], kind: 'i',
		below: "0", min: "1", max: "16777216", above: "16777217"},
	// fault
	{name: "abort percent", tmpl: one(`"fault":{"abort":{"percent":%s}}`), kind: 'f',
		below: "-5e-324", min: "0", max: "100", above: "100.00000000000001", minZero: true},
	{name: "abort status", tmpl: one(`"fault":{"abort":{"percent":1,"status":%s}}`), kind: 'i',
		below: "199", min: "200", max: "599", above: "600"},
	{name: "delay percent", tmpl: one(`"fault":{"delay":{"percent":%s,"duration":"1s"}}`), kind: 'f',
		below: "-5e-324", min: "0", max: "100", above: "100.00000000000001", minZero: true},
	durBound("delay duration", `"fault":{"delay":{"percent":1,"duration":"%s"}}`),
}

// huge are the values tried on every field of a kind besides its bounds:
// all refused, except a negative zero where zero is the minimum.
var huge = map[byte][]string{
	'i': {"1e30", "-0", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1.5", "1.0", `"1"`},
	'f': {"1e30", "-0", "1e999", "-1e999", "1e-400", `"1"`},
	'd': {"2562047h", "2562048h", "-0s", "1e30s", "9223372036854775807ns", "-2562048h", "1.5", ""},
}

type boundCase struct {
	name, config string
	want         bool // accepted by validate and the plugin
}

func boundCases() []boundCase {
	var out []boundCase
	for _, b := range bounds {
		add := func(v string, want bool) {
			out = append(out, boundCase{b.name + "=" + v, fmt.Sprintf(b.tmpl, v), want})
		}
		add(b.below, false)
		add(b.min, true)
		add(b.max, true)
		add(b.above, false)
		for _, v := range huge[b.kind] {
			add(v, b.minZero && (v == "-0" || v == "-0s" || v == "1e-400"))
		}
	}
	// The configurations of issue 9, by name.
	return append(out, []boundCase{
		{"open_duration 1h alone", one(`"circuit_breaker":{"open_duration":"1h"}`), true},
		{"count window of 10 alone", one(`"circuit_breaker":{"window":{"type":"count","size":10}}`), true},
		{"window 10001", one(`"circuit_breaker":{"window":{"type":"count","size":10001}}`), false},
		{"buckets 1000", one(`"circuit_breaker":{"window":{"type":"time","size":"1h","buckets":1000}}`), false},
		{"lease_ttl 2562048h", one(`"bulkhead":{"max_concurrent":1,"lease_ttl":"2562048h"}`), false},
		{"per 320256h", one(`"rate_limit":{"limits":[{"name":"a","requests":1,"per":"320256h"}]}`), false},
		{"max_delay 320256h", one(`"rate_limit":{"limits":[{"name":"a","algorithm":"leaky_bucket","requests":1,"per":"1s","max_delay":"320256h"}]}`), false},
		// Issue 10: worst-case shared data above max_shared_bytes.
		{"keyed breaker of 600 buckets, max_keys 1e6", one(`"circuit_breaker":{"key":["header:x-user"],"max_keys":1000000,"window":{"type":"time","size":"10m","buckets":600}}`), false},
		{"the same under max_shared_bytes 2^40", `{"max_shared_bytes":1099511627776,` + one(`"circuit_breaker":{"key":["header:x-user"],"max_keys":1000000,"window":{"type":"time","size":"10m","buckets":600}}`)[1:], true},
		{"max_shared_bytes below 1 MiB", `{"max_shared_bytes":1048575,` + one(`"circuit_breaker":{}`)[1:], false},
		{"max_shared_bytes 1 MiB", `{"max_shared_bytes":1048576,` + one(`"circuit_breaker":{}`)[1:], true},
	}...)
}

// TestBoundsValidateIffStart: at and across every bound (and at huge
// values), `breakwater validate` (config.Load) accepts a configuration
// exactly when the plugin starts with it, natively and in the built .wasm,
// for every case (about 600, a few seconds); the accepted side of each
// bound is the documented one; a refused start logs exactly validate's
// error line.
func TestBoundsValidateIffStart(t *testing.T) {
	cases := boundCases()
	for _, mode := range modes() {
		t.Run(mode, func(t *testing.T) {
			n := 0
			for _, c := range cases {
				n++
				t.Run(c.name, func(t *testing.T) {
					_, err := config.Load([]byte(c.config))
					if (err == nil) != c.want {
						t.Fatalf("validate error %v, want accepted=%v\n%s", err, c.want, c.config)
					}
					h, ok := startHarness(t, mode, c.config)
					logs := h.host.GetCriticalLogs()
					switch {
					case ok != (err == nil):
						t.Fatalf("validate error %v but plugin start ok=%v (logs %q)\n%s", err, ok, logs, c.config)
					case !ok && (len(logs) != 1 || logs[0] != err.Error()):
						t.Fatalf("start failure logged %q, want exactly %q", logs, err.Error())
					}
				})
			}
			t.Logf("%s: %d configurations", mode, n)
		})
	}
}

// TestScenariosAtTheBounds: durations at their upper bound (87600h) leave
// the patterns working: no expiry, window index or token count overflows
// into "every lease expired" or "always open".
func TestScenariosAtTheBounds(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name:   "bulkhead with lease_ttl 87600h still bounds concurrency",
			config: `{"policies": [{"name": "svc", "bulkhead": {"max_concurrent": 1, "lease_ttl": "87600h"}}]}`,
			run: func(t *testing.T, h *harness) {
				a := h.request("GET", "/")
				expectForwarded(t, a)
				h.advance(2 * time.Second) // the tick renews nothing yet, nothing expires
				b := h.request("GET", "/")
				expectReason(t, b, 503, "bulkhead_full")
				b.end()
				a.respond("200")
				c := h.request("GET", "/")
				expectForwarded(t, c)
				c.respond("200")
			},
		},
		{
			name:   "rate limit of 1 per 87600h admits one request",
			config: `{"policies": [{"name": "svc", "rate_limit": {"limits": [{"name": "a", "requests": 1, "per": "87600h"}]}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "200")
				x := h.request("GET", "/")
				expectRejected(t, x, "svc")
				x.end()
			},
		},
		{
			name: "breaker open for 87600h with a time window of 87600h stays open",
			config: `{"policies": [{"name": "svc", "circuit_breaker": {"consecutive_failures": 1, "open_duration": "87600h",
				"window": {"type": "time", "size": "87600h", "buckets": 600}, "half_open_max_wait": "87600h"}}]}`,
			run: func(t *testing.T, h *harness) {
				call(t, h, "500")
				h.advance(time.Second)
				expectOpen(t, h.request("GET", "/"))
			},
		},
	})
}
