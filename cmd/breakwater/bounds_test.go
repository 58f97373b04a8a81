package main

import (
	"testing"

	"github.com/breakwater/breakwater/filter/config"
)

// The configurations of issue 9 through `breakwater validate`: a default
// adapts to an explicit value (accepted), and the bounds the plugin
// enforces at start are validate's (refused with the same one line the
// plugin logs: filter/bounds_test.go checks the plugin side, natively and
// in the .wasm).
func TestValidateDerivedDefaultsAndBounds(t *testing.T) {
	for _, c := range []struct {
		name, doc, stderr string
	}{
		{"open_duration 1h alone", `{"policies":[{"name":"p","circuit_breaker":{"open_duration":"1h"}}]}`, ""},
		{"count window of 10 alone", `{"policies":[{"name":"p","circuit_breaker":{"window":{"type":"count","size":10}}}]}`, ""},
		{"window 10001", `{"policies":[{"name":"p","circuit_breaker":{"window":{"type":"count","size":10001}}}]}`,
			"breakwater: config: policies[0].circuit_breaker.window.size: must be in [1,10000] calls, got 10001\n"},
		{"buckets 1000", `{"policies":[{"name":"p","circuit_breaker":{"window":{"type":"time","size":"1h","buckets":1000}}}]}`,
			"breakwater: config: policies[0].circuit_breaker.window.buckets: must be in [1,600], got 1000\n"},
		{"lease_ttl 2562048h", `{"policies":[{"name":"p","bulkhead":{"max_concurrent":1,"lease_ttl":"2562048h"}}]}`,
			"breakwater: config: policies[0].bulkhead.lease_ttl: must be at most 87600h0m0s, got \"2562048h\"\n"},
		{"two explicit values that contradict", `{"policies":[{"name":"p","circuit_breaker":{"open_duration":"1h","max_open_duration":"5m"}}]}`,
			"breakwater: config: policies[0].circuit_breaker.max_open_duration: must be at least policies[0].circuit_breaker.open_duration (1h0m0s), got 5m0s\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI("validate", write(t, c.doc))
			want, wantOut := 0, "ok\n"
			if c.stderr != "" {
				want, wantOut = 1, ""
				_, err := config.Load([]byte(c.doc))
				if err == nil || err.Error()+"\n" != c.stderr {
					t.Fatalf("config.Load: %v, want %q", err, c.stderr)
				}
			}
			if code != want || out != wantOut || errOut != c.stderr {
				t.Fatalf("validate: %d %q %q, want %d %q %q", code, out, errOut, want, wantOut, c.stderr)
			}
		})
	}
}
