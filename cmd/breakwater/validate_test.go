package main

import (
	"strings"
	"testing"

	"github.com/breakwater/breakwater/filter/config"
)

// withStdin makes "validate -" read s for one test.
func withStdin(t *testing.T, s string) {
	saved := stdin
	stdin = strings.NewReader(s)
	t.Cleanup(func() { stdin = saved })
}

const okConfig = `{"policies":[{"name":"p","rate_limit":{"limits":[{"name":"a","requests":10,"per":"1s"}]}}]}`

func TestValidateStdin(t *testing.T) {
	withStdin(t, okConfig)
	if code, out, errOut := runCLI("validate", "-"); code != 0 || out != "ok\n" || errOut != "" {
		t.Fatalf("valid stdin: %d %q %q", code, out, errOut)
	}
	withStdin(t, `{"policies":[{"name":"p","circuit_breaker":{"failure_rate_threshold":1.5}}]}`)
	code, out, errOut := runCLI("validate", "-")
	if code != 1 || out != "" || errOut != "breakwater: config: policies[0].circuit_breaker.failure_rate_threshold: must be in (0,1], got 1.5\n" {
		t.Fatalf("invalid stdin: %d %q %q", code, out, errOut)
	}
	withStdin(t, "")
	if code, _, errOut := runCLI("validate", "-"); code != 1 || errOut != "breakwater: config: $: empty document, want a JSON object\n" {
		t.Fatalf("empty stdin: %d %q", code, errOut)
	}
	withStdin(t, `{"namespace":"`+strings.Repeat("a", config.MaxDocumentBytes)+`"}`)
	if code, _, errOut := runCLI("validate", "-"); code != 1 || !strings.Contains(errOut, "$: document too large") {
		t.Fatalf("huge stdin: %d %q", code, errOut)
	}
}

// A UTF-8 byte-order mark (Windows editors write one) is accepted, by the
// parser and so by the plugin too; the error positions ignore it.
func TestValidateBOM(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	if code, out, errOut := runCLI("validate", write(t, bom+okConfig)); code != 0 || out != "ok\n" || errOut != "" {
		t.Fatalf("BOM file: %d %q %q", code, out, errOut)
	}
	withStdin(t, bom+"{\"policies\": 1 2}")
	if code, _, errOut := runCLI("validate", "-"); code != 1 || errOut != "breakwater: config: $: invalid JSON at line 1, column 16: invalid character '2' after object key:value pair\n" {
		t.Fatalf("BOM with an error: %d %q", code, errOut)
	}
	if _, err := config.Load([]byte(bom + okConfig)); err != nil {
		t.Fatalf("the plugin's Load refuses a BOM: %v", err)
	}
}

func TestValidateWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		warnings     []string
	}{
		{"shadowed by a prefix",
			`{"policies":[{"name":"api","match":{"path_prefix":"/api"}},{"name":"v1","match":{"path_prefix":"/api/v1","methods":["GET"]}}]}`,
			[]string{`breakwater: config: warning: policies[1]: never applies: every request it matches is taken first by policies[0] ("api")`}},
		{"shadowed by methods and authority",
			`{"policies":[{"name":"a","match":{"methods":["GET","POST"],"authority":"shop.example.com"}},{"name":"b","match":{"path_exact":"/x","methods":["get"],"authority":"Shop.example.com:8080","headers":[{"name":"x-t","exact":"1"}]}}]}`,
			[]string{`breakwater: config: warning: policies[1]: never applies: every request it matches is taken first by policies[0] ("a")`}},
		{"shadowed by a regex",
			`{"policies":[{"name":"a","match":{"path_regex":"/items/[0-9]+"}},{"name":"b","match":{"path_exact":"/items/42"}}]}`,
			[]string{`breakwater: config: warning: policies[1]: never applies: every request it matches is taken first by policies[0] ("a")`}},
		{"shadowed by a header",
			`{"policies":[{"name":"a","match":{"headers":[{"name":"x-tenant","present":true}]}},{"name":"b","match":{"path_prefix":"/","headers":[{"name":"X-Tenant","prefix":"ac"}]}}]}`,
			[]string{`breakwater: config: warning: policies[1]: never applies: every request it matches is taken first by policies[0] ("a")`}},
		{"narrower first is fine",
			`{"policies":[{"name":"v1","match":{"path_prefix":"/api/v1"}},{"name":"api","match":{"path_prefix":"/api"}},{"name":"get","match":{"methods":["GET"]}},{"name":"get-post","match":{"methods":["GET","POST"]}},{"name":"h","match":{"headers":[{"name":"x","prefix":"ab"}]}},{"name":"h2","match":{"headers":[{"name":"x","prefix":"a"}]}}]}`,
			nil},
		{"slow call at the timeout",
			`{"policies":[{"name":"p","circuit_breaker":{"slow_call_duration":"2s"},"timeout":{"request":"2s"}}]}`,
			[]string{`breakwater: config: warning: policies[0].circuit_breaker.slow_call_duration: 2s is at or above timeout.request (2s): no call can be slow, the slow-call rate stays 0`}},
		{"slow call above the adaptive max",
			`{"policies":[{"name":"p","circuit_breaker":{"slow_call_duration":"10s"},"timeout":{"request":"2s","adaptive":{"min":"100ms","max":"5s"}}}]}`,
			[]string{`breakwater: config: warning: policies[0].circuit_breaker.slow_call_duration: 10s is at or above timeout.adaptive.max (5s): no call can be slow, the slow-call rate stays 0`}},
		{"slow call below the timeout is fine",
			`{"policies":[{"name":"p","circuit_breaker":{"slow_call_duration":"1s"},"timeout":{"request":"2s"}}]}`,
			nil},
		{"half_open_max_wait below the request timeout",
			`{"policies":[{"name":"p","circuit_breaker":{"half_open_max_wait":"1s"},"timeout":{"request":"2s"}}]}`,
			[]string{`breakwater: config: warning: policies[0].circuit_breaker.half_open_max_wait: 1s is below the policy's longest request timeout (2s): a probe still waiting for its response lets another probe in`}},
		{"half_open_max_wait derived is fine",
			`{"policies":[{"name":"p","circuit_breaker":{"open_duration":"1s"},"timeout":{"request":"2m"}}]}`,
			nil},
		{"rate limit status below 400",
			`{"policies":[{"name":"p","rate_limit":{"limits":[{"name":"a","requests":1,"per":"1s"}],"status":302}}]}`,
			[]string{`breakwater: config: warning: policies[0].rate_limit.status: 302 is below 400: clients and retries take a rate-limited request for a success`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI("validate", write(t, tc.config))
			want := ""
			for _, w := range tc.warnings {
				want += w + "\n"
			}
			if code != 0 || out != "ok\n" || errOut != want {
				t.Fatalf("got %d, stdout %q, stderr\n%s\nwant 0, \"ok\\n\", stderr\n%s", code, out, errOut, want)
			}
		})
	}
}

func TestValidateExplain(t *testing.T) {
	in := `{"policies":[{"name":"p","circuit_breaker":{"window":{"type":"time","size":"1m"}},"bulkhead":{"max_concurrent":5}}]}`
	for _, args := range [][]string{{"validate", "--explain", "-"}, {"validate", "-", "-v"}} {
		withStdin(t, in)
		code, out, errOut := runCLI(args...)
		if code != 0 || strings.Contains(errOut, "warning") {
			t.Fatalf("%q: %d %q", args, code, errOut)
		}
		// The worst case of shared data, per block and in total: the
		// breaker's time window of 10 buckets is 40+20+120 = 180 bytes, the
		// unkeyed bulkhead's 5 leases 5+80 = 85, each with its entry (11) and set name (20);
		// the plugin's own keys, the hash key (name 20 + 16) and the VM
		// ordinal counter (name 13 + 8), 56 bytes: 383 in all.
		for _, want := range []string{"shared data: policies[0].circuit_breaker: 1 records of up to 180 bytes: at most 211 bytes\n",
			"shared data: policies[0].bulkhead: 1 records of up to 85 bytes: at most 116 bytes\n",
			"shared data: total at most 383 bytes (0.0 MiB) of max_shared_bytes 268435456\n"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%q: stderr lacks %q:\n%s", args, want, errOut)
			}
		}
		for _, want := range []string{`"namespace": "breakwater"`, `"size": "1m"`, `"buckets": 10`, `"minimum_calls": 20`,
			`"failure_rate_threshold": 0.5`, `"half_open_calls": 1`, `"connect_failure": true`, `"lease_ttl": "1m"`} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: output lacks %s:\n%s", args, want, out)
			}
		}
		// The output is itself a configuration, the same one.
		c, err := config.Parse([]byte(out))
		if err != nil {
			t.Fatalf("explained output refused: %v\n%s", err, out)
		}
		again, _ := c.Explain()
		if string(again) != out {
			t.Fatalf("explaining the output changes it:\n%s\n%s", out, again)
		}
	}
	// Warnings still go to stderr with --explain; stdout stays pure JSON.
	withStdin(t, `{"policies":[{"name":"p","rate_limit":{"limits":[{"name":"a","requests":1,"per":"1s"}],"status":200}}]}`)
	code, out, errOut := runCLI("validate", "--explain", "-")
	if code != 0 || !strings.HasPrefix(out, "{") || !strings.Contains(errOut, "rate_limit.status: 200 is below 400") {
		t.Fatalf("explain with a warning: %d %q %q", code, out, errOut)
	}
	// An invalid configuration explains nothing.
	withStdin(t, `{"policies":[]}`)
	if code, out, errOut := runCLI("validate", "-v", "-"); code != 1 || out != "" || errOut != "breakwater: config: policies: must not be empty\n" {
		t.Fatalf("explain invalid: %d %q %q", code, out, errOut)
	}
}

func TestValidateUsage(t *testing.T) {
	const usage = "usage: breakwater validate [--explain|-v] FILE|-\n"
	for _, args := range [][]string{{"validate"}, {"validate", "--explain"}, {"validate", "--bogus", "x"}, {"validate", "a", "b"}, {"validate", ""}} {
		if code, out, errOut := runCLI(args...); code != 2 || out != "" || errOut != usage {
			t.Errorf("%q: %d %q %q", args, code, out, errOut)
		}
	}
	if code, out, _ := runCLI("validate", "-h"); code != 0 || out != usage {
		t.Errorf("-h: %d %q", code, out)
	}
}

// --explain shows the defaults that derive from explicit values (the
// configurations of issue 9: open_duration 1h alone, a count window of 10
// alone).
func TestValidateExplainDerived(t *testing.T) {
	withStdin(t, `{"policies":[{"name":"p","circuit_breaker":{"open_duration":"1h","window":{"type":"count","size":10}},"timeout":{"request":"2s"}}]}`)
	code, out, errOut := runCLI("validate", "--explain", "-")
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("%d %q", code, errOut)
	}
	for _, want := range []string{`"minimum_calls": 10,`, `"max_open_duration": "1h",`, `"half_open_max_wait": "1h",`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	withStdin(t, `{"policies":[{"name":"p","circuit_breaker":{},"timeout":{"request":"90s"}}]}`)
	if _, out, _ := runCLI("validate", "-v", "-"); !strings.Contains(out, `"half_open_max_wait": "1m30s",`) || !strings.Contains(out, `"max_open_duration": "5m",`) {
		t.Errorf("defaults from the request timeout:\n%s", out)
	}
}
