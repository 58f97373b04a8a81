package config

import (
	"slices"
	"testing"
)

// setNotImplemented replaces the gate for one test.
func setNotImplemented(t *testing.T, keys ...string) {
	saved := NotImplemented
	NotImplemented = map[string]bool{}
	for _, k := range keys {
		NotImplemented[k] = true
	}
	t.Cleanup(func() { NotImplemented = saved })
}

const tb = `{"name":"t","requests":1,"per":"1s"}`

// featureCases: for every gate key, a configuration that uses it (second
// policy, so paths are checked with an index) and the path Load reports.
var featureCases = []struct {
	key, fields, path string
}{
	{"rate_limit.algorithm.token_bucket", `"rate_limit":{"limits":[` + tb + `],"headers":false}`, "policies[1].rate_limit.limits[0].algorithm"},
	{"rate_limit.algorithm.gcra", `"rate_limit":{"limits":[` + tb + `,{"name":"g","algorithm":"gcra","requests":1,"per":"1s"}],"headers":false}`, "policies[1].rate_limit.limits[1].algorithm"},
	{"rate_limit.algorithm.fixed_window", `"rate_limit":{"limits":[{"name":"g","algorithm":"fixed_window","requests":1,"per":"1s"}],"headers":false}`, "policies[1].rate_limit.limits[0].algorithm"},
	{"rate_limit.algorithm.sliding_window", `"rate_limit":{"limits":[{"name":"g","algorithm":"sliding_window","requests":1,"per":"1s"}],"headers":false}`, "policies[1].rate_limit.limits[0].algorithm"},
	{"rate_limit.algorithm.leaky_bucket", `"rate_limit":{"limits":[{"name":"g","algorithm":"leaky_bucket","requests":1,"per":"1s","max_delay":"1s"}],"headers":false}`, "policies[1].rate_limit.limits[0].algorithm"},
	{"rate_limit.tier", `"rate_limit":{"limits":[{"name":"g","requests":1,"per":"1s","tier":{"from":"path","default":"a","limits":{"b":{"requests":2,"per":"1s"}}}}],"headers":false}`, "policies[1].rate_limit.limits[0].tier"},
	{"rate_limit.scope.global", `"rate_limit":{"limits":[{"name":"g","scope":"global","key":["path"],"descriptor_key":"p"}],"service":{"cluster":"c","domain":"d"},"headers":false}`, "policies[1].rate_limit.limits[0].scope"},
	{"rate_limit.failure_mode.local", `"rate_limit":{"limits":[{"name":"g","scope":"global","key":["path"],"descriptor_key":"p","requests":1,"per":"1s"}],"service":{"cluster":"c","domain":"d","failure_mode":"local"},"headers":false}`, "policies[1].rate_limit.service.failure_mode"},
	{"rate_limit.headers", `"rate_limit":{"limits":[` + tb + `]}`, "policies[1].rate_limit.headers"},
	{"circuit_breaker", `"circuit_breaker":{}`, "policies[1].circuit_breaker"},
	{"circuit_breaker.window.time", `"circuit_breaker":{"window":{"type":"time","size":"10s"}}`, "policies[1].circuit_breaker.window.type"},
	{"bulkhead", `"bulkhead":{"max_concurrent":1}`, "policies[1].bulkhead"},
	{"bulkhead.queue", `"bulkhead":{"max_concurrent":1,"queue":{"max_size":1,"max_wait":"1s"}}`, "policies[1].bulkhead.queue"},
	{"retry", `"retry":{}`, "policies[1].retry"},
	{"retry.budget", `"retry":{"budget":{}}`, "policies[1].retry.budget"},
	{"timeout", `"timeout":{"request":"1s"}`, "policies[1].timeout"},
	{"timeout.deadline", `"timeout":{"deadline":{}}`, "policies[1].timeout.deadline"},
	{"timeout.adaptive", `"timeout":{"request":"1s","adaptive":{"min":"1ms","max":"1s"}}`, "policies[1].timeout.adaptive"},
	{"fallback", `"bulkhead":{"max_concurrent":1},"fallback":{"on":["bulkhead_full"],"body":"x"}`, "policies[1].fallback"},
	{"fallback.stale", `"bulkhead":{"max_concurrent":1},"fallback":{"on":["bulkhead_full"],"stale":{"max_age":"1s"}}`, "policies[1].fallback.stale"},
	{"fault", `"fault":{"abort":{"percent":1}}`, "policies[1].fault"},
	{"dead_letter", `"dead_letter":{"cluster":"dlq"}`, "policies[1].dead_letter"},
}

func twoPolicies(fields string) string {
	return `{"policies":[{"name":"first","match":{"path_prefix":"/first"}},{"name":"p",` + fields + `}]}`
}

func TestGateKeys(t *testing.T) {
	for k := range NotImplemented {
		if !slices.Contains(featureKeys, k) {
			t.Errorf("NotImplemented has %q, which is no feature key", k)
		}
	}
	var covered []string
	for _, fc := range featureCases {
		covered = append(covered, fc.key)
	}
	if !slices.Equal(covered, featureKeys) {
		t.Fatalf("featureCases cover %v, featureKeys are %v", covered, featureKeys)
	}
}

func TestGateEachFeature(t *testing.T) {
	for _, fc := range featureCases {
		t.Run(fc.key, func(t *testing.T) {
			in := []byte(twoPolicies(fc.fields))
			c := mustParse(t, string(in))
			if !slices.Contains(c.Features(), FeatureUse{fc.key, fc.path}) {
				t.Fatalf("Features() = %v, want it to hold {%s %s}", c.Features(), fc.key, fc.path)
			}
			// Only this key gated: Load fails at the path.
			setNotImplemented(t, fc.key)
			_, err := Load(in)
			want := "breakwater: config: " + fc.path + ": not implemented yet"
			if err == nil || err.Error() != want {
				t.Fatalf("Load: %v, want %s", err, want)
			}
			// Nothing gated: Load accepts.
			setNotImplemented(t)
			if _, err := Load(in); err != nil {
				t.Fatalf("Load with an empty gate: %v", err)
			}
		})
	}
}

func TestGateOrder(t *testing.T) {
	// The starting state of the project (everything gated but token_bucket;
	// the real NotImplemented shrinks as features land).
	var all []string
	for _, k := range featureKeys {
		if k != "rate_limit.algorithm.token_bucket" {
			all = append(all, k)
		}
	}
	setNotImplemented(t, all...)
	ok := `{"namespace":"ns","policies":[{"name":"a","match":{"path_prefix":"/a","methods":["GET"],"headers":[{"name":"x","present":true}]},
		"rate_limit":{"limits":[{"name":"u","key":["header:x-user","property:source.address"],"requests":10,"per":"1s","burst":5,"max_keys":100}],"headers":false,"status":429}}]}`
	if _, err := Load([]byte(ok)); err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, tc := range []struct{ in, want string }{
		{twoPolicies(`"circuit_breaker":{}`), "policies[1].circuit_breaker: not implemented yet"},
		{twoPolicies(`"rate_limit":{"limits":[` + tb + `]}`), "policies[1].rate_limit.headers: not implemented yet"},
		{twoPolicies(`"rate_limit":{"limits":[` + tb + `,{"name":"g","algorithm":"gcra","requests":1,"per":"1s"}]}`), "policies[1].rate_limit.limits[1].algorithm: not implemented yet"},
		// The first use in order wins: rate_limit before fault.
		{twoPolicies(`"fault":{"abort":{"percent":1}},"rate_limit":{"limits":[{"name":"g","algorithm":"fixed_window","requests":1,"per":"1s"}]}`), "policies[1].rate_limit.limits[0].algorithm: not implemented yet"},
	} {
		_, err := Load([]byte(tc.in))
		if err == nil || err.Error() != "breakwater: config: "+tc.want {
			t.Errorf("Load: %v, want %s", err, tc.want)
		}
	}
	// Features lists every use, in order.
	c := mustParse(t, twoPolicies(`"circuit_breaker":{},"fault":{"abort":{"percent":1}}`))
	got := c.Features()
	want := []FeatureUse{{"circuit_breaker", "policies[1].circuit_breaker"}, {"fault", "policies[1].fault"}}
	check(t, "features", got, want)
}
