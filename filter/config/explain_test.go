package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestExplainRoundTrip: Explain's output is a valid configuration that
// parses to the same configuration, for every valid document of the
// repository's tests (block examples, the full example, plugin.json) and
// the valid inputs of the fuzz seeds.
func TestExplainRoundTrip(t *testing.T) {
	extra := []string{
		`{"$schema":"x","policies":[{"name":"a","match":{"path_regex":"/v[0-9]+/(a|b)","headers":[{"name":"X-A","present":true},{"name":"b","prefix":"p"}]}},{"name":"b"}]}`,
		rl(`{"name":"g","scope":"global","key":["path","header:X-U"],"descriptor_key":"k","algorithm":"leaky_bucket","requests":5,"per":"1s","max_delay":"1s"}`,
			`"service":{"cluster":"c","domain":"d","failure_mode":"local"}`),
		rl(`{"name":"l","algorithm":"leaky_bucket","requests":5,"per":"1s","max_delay":"2s","tier":{"from":"const:x","default":"d","limits":{"g o":{"requests":9,"per":"1h30m"}}}}`),
		pol(`"circuit_breaker":{"window":{"type":"time","size":"1h","buckets":600},"failure_on":{"statuses":[],"reset":false}},"fallback":{"on":["upstream_failure"],"headers":{}}`),
		pol(`"timeout":{"deadline":{}},"fault":{"delay":{"percent":0.5,"duration":"1ns"},"only_with_header":"X-F"},"retry":{"max_retries":0,"budget":{"ratio":0}}`),
	}
	for _, doc := range extra {
		mustParse(t, doc)
	}
	docs := append(referenceCorpus(t), extra...)
	n := 0
	for _, doc := range docs {
		c, err := Parse([]byte(doc))
		if err != nil {
			continue // an invalid case
		}
		n++
		out, err := c.Explain()
		if err != nil {
			t.Fatalf("Explain: %v", err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Errorf("Explain output refused: %v\ninput: %s\noutput: %s", err, clip(doc), out)
			continue
		}
		out2, err := c2.Explain()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Errorf("Explain is not stable:\n%s\n%s", out, out2)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Errorf("Explain output parses to another configuration\ninput: %s\noutput: %s", doc, out)
		}
	}
	if n < 20 {
		t.Fatalf("only %d valid documents", n)
	}
}

// TestExplainDefaults: a minimal configuration explains with its defaults.
func TestExplainDefaults(t *testing.T) {
	c := mustParse(t, pol(`"circuit_breaker":{},"bulkhead":{"max_concurrent":2}`))
	out, err := c.Explain()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"namespace": "breakwater"`, `"minimum_calls": 20`, `"open_duration": "30s"`, `"max_open_duration": "5m"`,
		`"statuses": [`, `"lease_ttl": "1m"`, `"max_keys": 10000`, `"mode": "enforce"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Explain lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "slow_call_rate_threshold") {
		t.Errorf("Explain reports a slow-call threshold without slow_call_duration:\n%s", out)
	}
}
