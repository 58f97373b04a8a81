package filter

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/metricdef"
)

// Global-scope scenarios. proxytest's wasm runner does not deliver
// proxy_on_http_call_response to the guest, so these run natively here, and
// against the .wasm in e2e/ (dev host + the real envoyproxy/ratelimit).
func TestScenariosGlobalRateLimitNative(t *testing.T) {
	const base = `{"policies": [{"name": "api", "rate_limit": {
		"limits": [{"name": "local", "requests": 2, "per": "1h"},
		           {"name": "mesh", "scope": "global", "key": ["header:x-user-id"], "descriptor_key": "user" %s}],
		"service": {"cluster": "ratelimit", "domain": "breakwater", "timeout": "25ms", "failure_mode": "%s"}}}]}`
	cfg := func(mode string) string {
		extra := ""
		if mode == "local" {
			extra = `, "requests": 1, "per": "1h"`
		}
		return sprintf(base, extra, mode)
	}
	ok := `{"overallCode":"OK","statuses":[{"code":"OK","currentLimit":{"requestsPerUnit":60,"unit":"MINUTE"},"limitRemaining":0,"durationUntilReset":"30s"}]}`
	over := `{"overallCode":"OVER_LIMIT","statuses":[{"code":"OVER_LIMIT","currentLimit":{"requestsPerUnit":60,"unit":"MINUTE"},"durationUntilReset":"42s"}]}`

	// ask sends a request, checks the callout, answers it with (status, body),
	// or as a failure when status is "".
	ask := func(t *testing.T, h *harness, user, status, body string) *exchange {
		t.Helper()
		x := h.request("GET", "/", "x-user-id", user)
		if !x.paused() {
			t.Fatalf("request not paused for the service call (status %d)", x.status())
		}
		calls := h.host.GetCalloutAttributesFromContext(x.id)
		if len(calls) != 1 {
			t.Fatalf("%d callouts, want exactly one", len(calls))
		}
		c := calls[0]
		if c.Upstream != "ratelimit" || get(c.Headers, ":path") != "/json" || get(c.Headers, ":method") != "POST" {
			t.Fatalf("callout %s %v", c.Upstream, c.Headers)
		}
		var req struct {
			Domain      string
			Descriptors []struct{ Entries []struct{ Key, Value string } }
		}
		if err := json.Unmarshal(c.Body, &req); err != nil || req.Domain != "breakwater" ||
			len(req.Descriptors) != 1 || req.Descriptors[0].Entries[0].Key != "user" || req.Descriptors[0].Entries[0].Value != user {
			t.Fatalf("callout body %s", c.Body)
		}
		if status == "" {
			h.host.CallOnHttpCallResponse(c.CalloutID, nil, nil, nil)
		} else {
			h.host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", status}}, nil, []byte(body))
		}
		return x
	}

	h := func(t *testing.T, config string) *harness {
		hh, ok := startHarness(t, "native", config)
		if !ok {
			t.Fatalf("start: %v", hh.host.GetCriticalLogs())
		}
		return hh
	}

	t.Run("OK resumes with the service's headers when most restrictive", func(t *testing.T) {
		hh := h(t, cfg("allow"))
		x := ask(t, hh, "alice", "200", ok)
		expectForwarded(t, x)
		x.respond("200")
		if x.responseHeader("ratelimit-limit") != "60" || x.responseHeader("ratelimit-remaining") != "0" || x.responseHeader("ratelimit-reset") != "30" {
			t.Fatalf("headers %v", hh.host.GetCurrentResponseHeaders(x.id))
		}
	})
	t.Run("OVER_LIMIT rejects and refunds the local limit", func(t *testing.T) {
		hh := h(t, cfg("allow"))
		x := ask(t, hh, "alice", "429", over)
		expectRejected(t, x, "api")
		if x.localHeader("retry-after") != "42" {
			t.Fatalf("retry-after %q", x.localHeader("retry-after"))
		}
		if hh.counter(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "mesh")) != 1 {
			t.Fatal("mesh limited_total")
		}
		// local limit of 2 still intact: two more OK requests pass.
		expectForwarded(t, ask(t, hh, "bob", "200", ok))
		expectForwarded(t, ask(t, hh, "bob", "200", ok))
		expectRejected(t, hh.request("GET", "/", "x-user-id", "bob"), "api") // local limit, no callout
	})
	for _, c := range []struct {
		mode, status, body string
	}{
		{"allow", "", ""}, {"allow", "500", "oops"}, {"allow", "200", "not json"},
	} {
		t.Run("failure_mode allow: "+c.status+c.body, func(t *testing.T) {
			hh := h(t, cfg(c.mode))
			expectForwarded(t, ask(t, hh, "alice", c.status, c.body))
			if hh.counter(metricdef.Name("breakwater", metricdef.RateLimitServiceFailuresTotal, "api")) != 1 {
				t.Fatal("service_failures_total")
			}
		})
	}
	t.Run("one call per request carries every global limit's descriptor", func(t *testing.T) {
		hh := h(t, `{"policies": [{"name": "api", "rate_limit": {"limits": [
			{"name": "u", "scope": "global", "key": ["header:x-user-id"], "descriptor_key": "user"},
			{"name": "p", "scope": "global", "key": ["path", "method"], "descriptor_key": "route"}],
			"service": {"cluster": "rls", "authority": "rls.internal", "domain": "d", "timeout": "40ms"}}}]}`)
		x := hh.request("GET", "/a?q=1", "x-user-id", "zed")
		calls := hh.host.GetCalloutAttributesFromContext(x.id)
		if len(calls) != 1 {
			t.Fatalf("%d callouts for two global limits, want one", len(calls))
		}
		want := `{"domain":"d","descriptors":[{"entries":[{"key":"user","value":"zed"}]},{"entries":[{"key":"route","value":"2:/a,3:GET,"}]}],"hitsAddend":1}`
		if string(calls[0].Body) != want || get(calls[0].Headers, ":authority") != "rls.internal" || calls[0].Upstream != "rls" {
			t.Fatalf("callout %s %v %s", calls[0].Upstream, calls[0].Headers, calls[0].Body)
		}
		// The second descriptor is over its limit: its limit counts the rejection.
		hh.host.CallOnHttpCallResponse(calls[0].CalloutID, [][2]string{{":status", "429"}}, nil,
			[]byte(`{"overallCode":"OVER_LIMIT","statuses":[{"code":"OK"},{"code":"OVER_LIMIT","currentLimit":{"requestsPerUnit":5,"unit":"SECOND"},"durationUntilReset":"1s"}]}`))
		expectRejected(t, x, "api")
		if hh.counter(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "p")) != 1 || hh.counter(metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "api", metricdef.LabelLimit, "u")) != 0 {
			t.Fatal("the deciding global limit was not counted")
		}
	})
	t.Run("failure_mode deny rejects on timeout", func(t *testing.T) {
		hh := h(t, cfg("deny"))
		expectRejected(t, ask(t, hh, "alice", "", ""), "api")
	})
	t.Run("failure_mode local decides with the limit's own parameters", func(t *testing.T) {
		hh := h(t, cfg("local"))
		expectForwarded(t, ask(t, hh, "alice", "", ""))
		expectRejected(t, ask(t, hh, "alice", "", ""), "api") // local fallback: 1 per hour
		expectForwarded(t, ask(t, hh, "bob", "", ""))
	})
	t.Run("one warning per cause per minute, naming the policy, the limits and the cluster", func(t *testing.T) {
		hh := h(t, strings.Replace(cfg("allow"), `"requests": 2,`, `"requests": 100,`, 1))
		warnings := func() []string {
			var out []string
			for _, l := range hh.host.GetWarnLogs() {
				if strings.Contains(l, "rate limit service") {
					out = append(out, l)
				}
			}
			return out
		}
		// Five timeouts within the minute: one warning, five failures counted.
		for i := 0; i < 5; i++ {
			expectForwarded(t, ask(t, hh, "alice", "", ""))
		}
		ws := warnings()
		want := `breakwater: policy "api": global limit(s) "mesh": rate limit service cluster "ratelimit" did not answer (timeout or connection failure): no response headers; failure_mode allow applied (1 such failure(s)`
		if len(ws) != 1 || !strings.HasPrefix(ws[0], want) {
			t.Fatalf("warnings %q, want one starting %q", ws, want)
		}
		if n := hh.counter(metricdef.Name("breakwater", metricdef.RateLimitServiceFailuresTotal, "api")); n != 5 {
			t.Fatalf("service_failures_total %d, want 5", n)
		}
		// Another cause within the same minute gets its own warning.
		expectForwarded(t, ask(t, hh, "alice", "500", "oops"))
		if ws = warnings(); len(ws) != 2 || !strings.Contains(ws[1], `answered with an unexpected status: status 500`) {
			t.Fatalf("warnings %q", ws)
		}
		// The host's router answers a connect failure with 503: "did not answer".
		expectForwarded(t, ask(t, hh, "alice", "503", "upstream connect error"))
		if ws = warnings(); len(ws) != 2 {
			t.Fatalf("a second timeout-like failure within the minute warned again: %q", ws)
		}
		// A minute later (on the plugin's clock) the next timeout warns again,
		// counting the failures it did not report.
		hh.advance(time.Minute)
		expectForwarded(t, ask(t, hh, "alice", "", ""))
		if ws = warnings(); len(ws) != 3 || !strings.Contains(ws[2], "(6 such failure(s)") {
			t.Fatalf("warnings after a minute %q", ws)
		}
		if n := hh.counter(metricdef.Name("breakwater", metricdef.RateLimitServiceFailuresTotal, "api")); n != 8 {
			t.Fatalf("service_failures_total %d, want 8", n)
		}
	})
}
